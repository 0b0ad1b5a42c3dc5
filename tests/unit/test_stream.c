/*
 * test_stream.c -- net/stream: SSE (WHATWG), NDJSON and execd framing.
 *
 * Every case is fed whole, at every single cut, at every pair of cuts (short cases),
 * a byte at a time, and through stream_feed(); each piece sits at the end of a page
 * with a PROT_NONE page after it, and is poisoned once the decoder said DEC_MORE
 * (split.h), so reading past a piece or keeping a pointer into a dropped piece
 * crashes. Events are rendered as text ("type|id|retry|data" for SSE, "data" for
 * the others, escaped, one per line) and compared. Random streams are also checked
 * against small reference models written straight from the specs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/stream.h"
#include "split.h"
#include "tap.h"

#define OUT_MAX (1u << 20)

struct out {
	char s[OUT_MAX];
	size_t len;
};

static void
out_putc(struct out *o, char c)
{
	if (o->len + 1 < OUT_MAX)
		o->s[o->len++] = c;
	o->s[o->len] = '\0';
}

static void
out_puts(struct out *o, const char *s)
{
	while (*s)
		out_putc(o, *s++);
}

static void
out_esc(struct out *o, const char *p, size_t n)
{
	char hex[8];
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n')
			out_puts(o, "\\n");
		else if (c == '\r')
			out_puts(o, "\\r");
		else if (c == '\\')
			out_puts(o, "\\\\");
		else if (c == '|')
			out_puts(o, "\\|");
		else if (c < 0x20 || c >= 0x7f) {
			snprintf(hex, sizeof(hex), "\\x%02x", c);
			out_puts(o, hex);
		} else
			out_putc(o, (char)c);
	}
}

static void
out_event(struct out *o, enum stream_mode mode, const struct stream_event *ev)
{
	char num[32];

	if (mode == STREAM_SSE) {
		out_esc(o, ev->type.p, ev->type.len);
		out_putc(o, '|');
		out_esc(o, ev->id.p, ev->id.len);
		out_putc(o, '|');
		snprintf(num, sizeof(num), "%" PRId64, ev->retry_ms);
		out_puts(o, num);
		out_putc(o, '|');
	} else if (ev->type.len != 0 || ev->id.len != 0 || ev->retry_ms != -1) {
		out_puts(o, "BADFIELDS|");
	}
	out_esc(o, ev->data.p, ev->data.len);
	out_putc(o, '\n');
}

static void
out_err(struct out *o, int code)
{
	char s[32];

	snprintf(s, sizeof(s), "ERR %d\n", code);
	out_puts(o, s);
}

/* Checks the sticky-error rule right after a DEC_ERR. */
static void
check_sticky(struct stream_dec *d, const struct err *first, struct out *o)
{
	struct stream_event ev;
	struct err e2 = { 0 }, e3 = { 0 };

	if (first->code == ERR_OK || first->msg[0] == '\0')
		out_puts(o, "NOMSG\n");
	if (stream_next(d, "data: x\n\n", 9, &ev, &e2) != DEC_ERR || e2.code != first->code ||
	    strcmp(e2.msg, first->msg) != 0)
		out_puts(o, "NOTSTICKY\n");
	if (stream_end(d, &ev, &e3) != DEC_ERR || e3.code != first->code)
		out_puts(o, "NOTSTICKY-END\n");
}

/*
 * Feeds in[0..len) in pieces ending at cuts[0..ncuts) (ascending) and renders the
 * events, then "END" or "ERR code".
 */
static void
run(enum stream_mode mode, size_t max, const char *in, size_t len, const size_t *cuts, size_t ncuts,
    struct out *o)
{
	struct stream_dec d;
	struct stream_event ev;
	struct err e = { 0 };
	size_t i, prev = 0, end, n;
	const char *p;
	ssize_t r;
	int rc;

	o->len = 0;
	o->s[0] = '\0';
	stream_dec_init(&d, mode, max);
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : len;
		p = guard_copy(in + prev, end - prev);
		n = end - prev;
		for (;;) {
			r = stream_next(&d, p, n, &ev, &e);
			if (r == DEC_MORE)
				break;
			if (r == DEC_ERR) {
				out_err(o, e.code);
				check_sticky(&d, &e, o);
				goto done;
			}
			if (r < 1 || (size_t)r > n) {
				out_puts(o, "BADCOUNT\n");
				goto done;
			}
			out_event(o, mode, &ev);
			p += r;
			n -= (size_t)r;
		}
		guard_retire();
		prev = end;
	}
	while ((rc = stream_end(&d, &ev, &e)) == 1)
		out_event(o, mode, &ev);
	if (rc < 0) {
		out_err(o, e.code);
		check_sticky(&d, &e, o);
	} else {
		out_puts(o, "END\n");
	}
done:
	stream_dec_fini(&d);
}

struct feed_ctx {
	enum stream_mode mode;
	struct out *o;
	int stop_after; /* return ERR_BACKEND at this event (1-based); 0: never */
	int n;
};

static int
feed_cb(void *arg, const struct stream_event *ev, struct err *e)
{
	struct feed_ctx *c = arg;

	out_event(c->o, c->mode, ev);
	if (++c->n == c->stop_after)
		return err_set(e, ERR_BACKEND, "stopped by the callback");
	return 0;
}

/* The push form, with the input cut at one place. */
static void
run_feed(enum stream_mode mode, size_t max, const char *in, size_t len, size_t cut, struct out *o)
{
	struct stream_dec d;
	struct err e = { 0 };
	struct feed_ctx c = { mode, o, 0, 0 };
	int rc;

	o->len = 0;
	o->s[0] = '\0';
	stream_dec_init(&d, mode, max);
	rc = stream_feed(&d, guard_copy(in, cut), cut, feed_cb, &c, &e);
	guard_retire();
	if (rc == 0) {
		rc = stream_feed(&d, guard_copy(in + cut, len - cut), len - cut, feed_cb, &c, &e);
		guard_retire();
	}
	if (rc == 0)
		rc = stream_feed_end(&d, feed_cb, &c, &e);
	if (rc != 0)
		out_err(o, rc);
	else
		out_puts(o, "END\n");
	stream_dec_fini(&d);
}

static struct out got, want_buf;

/* Runs one case every way; one TAP line per way. */
static void
check_mode(const char *name, enum stream_mode mode, size_t max, const char *in, size_t len,
    const char *want)
{
	size_t cuts[2], i, j, bad = 0, total = 0;
	size_t *bytes;

	run(mode, max, in, len, NULL, 0, &got);
	if (!ok(strcmp(got.s, want) == 0, "%s: whole", name))
		note("  got:\n%s  want:\n%s", got.s, want);

	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		run(mode, max, in, len, cuts, 1, &got);
		total++;
		if (strcmp(got.s, want) != 0) {
			if (bad++ == 0)
				note("  cut at %zu: got:\n%s", i, got.s);
		}
	}
	ok(bad == 0, "%s: all %zu single cuts (%zu bad)", name, total, bad);

	if (len <= 120) {
		bad = total = 0;
		for (i = 0; i <= len; i++) {
			for (j = i; j <= len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				run(mode, max, in, len, cuts, 2, &got);
				total++;
				if (strcmp(got.s, want) != 0 && bad++ == 0)
					note("  cuts at %zu,%zu: got:\n%s", i, j, got.s);
			}
		}
		ok(bad == 0, "%s: all %zu double cuts (%zu bad)", name, total, bad);
	}

	bytes = malloc((len + 1) * sizeof(*bytes));
	for (i = 0; i < len; i++)
		bytes[i] = i + 1;
	run(mode, max, in, len, bytes, len, &got);
	free(bytes);
	if (!ok(strcmp(got.s, want) == 0, "%s: one byte at a time", name))
		note("  got:\n%s", got.s);

	bad = 0;
	for (i = 0; i <= len; i += (len > 64 ? 7 : 1)) {
		run_feed(mode, max, in, len, i, &got);
		if (strcmp(got.s, want) != 0 && bad++ == 0)
			note("  stream_feed cut at %zu: got:\n%s", i, got.s);
	}
	ok(bad == 0, "%s: stream_feed", name);
}

#define SSE(name, in, want) check_mode(name, STREAM_SSE, 0, in, sizeof(in) - 1, want)
#define NDJ(name, in, want) check_mode(name, STREAM_NDJSON, 0, in, sizeof(in) - 1, want)
#define EXD(name, in, want) check_mode(name, STREAM_EXECD, 0, in, sizeof(in) - 1, want)

static void
test_sse(void)
{
	SSE("sse basic", "data: hello\n\n", "message||-1|hello\nEND\n");
	SSE("sse two events", "data: a\n\ndata: b\n\n", "message||-1|a\nmessage||-1|b\nEND\n");
	SSE("sse CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", "message||-1|a\nmessage||-1|b\nEND\n");
	SSE("sse CR only", "data: a\r\rdata: b\r\r", "message||-1|a\nmessage||-1|b\nEND\n");
	SSE("sse mixed line ends", "data: a\r\n\ndata: b\n\r\ndata: c\r\r\ndata: d\n\r",
	    "message||-1|a\nmessage||-1|b\nmessage||-1|c\nmessage||-1|d\nEND\n");
	SSE("sse CR then CRLF is two line ends", "data: a\r\r\n", "message||-1|a\nEND\n");
	SSE("sse CRLF then LF", "data: a\r\n\n", "message||-1|a\nEND\n");
	SSE("sse LF CR is two line ends", "data: a\n\r", "message||-1|a\nEND\n");
	SSE("sse CR-only multi-line", "data: a\rdata: b\r\r", "message||-1|a\\nb\nEND\n");
	SSE("sse BOM",
	    "\xef\xbb\xbf"
	    "data: x\n\n",
	    "message||-1|x\nEND\n");
	SSE("sse BOM only once",
	    "\xef\xbb\xbf\xef\xbb\xbf"
	    "data: x\n\ndata: y\n\n",
	    "message||-1|y\nEND\n");
	SSE("sse partial BOM is data",
	    "\xef\xbb"
	    "data: x\n\ndata: y\n\n",
	    "message||-1|y\nEND\n");
	SSE("sse partial BOM line", "\xef\xbb\ndata: y\n\n", "message||-1|y\nEND\n");
	SSE("sse BOM not at start",
	    "data: x\n\n\xef\xbb\xbf"
	    "data: y\n\n",
	    "message||-1|x\nEND\n");
	SSE("sse BOM alone", "\xef\xbb\xbf", "END\n");
	SSE("sse partial BOM at EOF", "\xef\xbb", "END\n");
	SSE("sse BOM then CRLF", "\xef\xbb\xbf\r\ndata: z\r\n\r\n", "message||-1|z\nEND\n");
	SSE("sse comments", ": hello\ndata: a\n: another\n:\n\n", "message||-1|a\nEND\n");
	SSE("sse comment only", ":\n\n: x\n\n", "END\n");
	SSE("sse multi-line data", "data: a\ndata: b\ndata:\ndata: c\n\n",
	    "message||-1|a\\nb\\n\\nc\nEND\n");
	SSE("sse data empty value dispatches", "data:\n\n", "message||-1|\nEND\n");
	SSE("sse data two empty", "data\ndata\n\n", "message||-1|\\n\nEND\n");
	SSE("sse field without colon", "data\n\n", "message||-1|\nEND\n");
	SSE("sse one space dropped", "data:  two\n\n", "message||-1| two\nEND\n");
	SSE("sse no space", "data:x\n\n", "message||-1|x\nEND\n");
	SSE("sse tab kept", "data:\tx\n\n", "message||-1|\\x09x\nEND\n");
	SSE("sse trailing space kept", "data: x \n\n", "message||-1|x \nEND\n");
	SSE("sse colon in value", "data: a:b: c\n\n", "message||-1|a:b: c\nEND\n");
	SSE("sse space in field name", "data : x\n\n", "END\n");
	SSE("sse field names case-sensitive", "Data: x\n\nDATA: y\n\n", "END\n");
	SSE("sse unknown field", "foo: bar\ndata: a\nfoo\n\n", "message||-1|a\nEND\n");
	SSE("sse event type", "event: add\ndata: 1\n\ndata: 2\n\n",
	    "add||-1|1\nmessage||-1|2\nEND\n");
	SSE("sse empty event type", "event:\ndata: x\n\n", "message||-1|x\nEND\n");
	SSE("sse event without colon", "event\ndata: x\n\n", "message||-1|x\nEND\n");
	SSE("sse last event type wins", "event: a\nevent: b\ndata: x\n\n", "b||-1|x\nEND\n");
	SSE("sse event after data", "data: x\nevent: late\n\n", "late||-1|x\nEND\n");
	SSE("sse type reset without data", "event: a\n\ndata: x\n\n", "message||-1|x\nEND\n");
	SSE("sse id persists", "id: 1\ndata: a\n\ndata: b\n\n",
	    "message|1|-1|a\nmessage|1|-1|b\nEND\n");
	SSE("sse id reset by empty",
	    "id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\n",
	    "message|1|-1|a\nmessage||-1|b\nmessage|2|-1|c\nmessage||-1|d\nEND\n");
	SSE("sse id with NUL ignored", "id: 1\ndata: a\n\nid: 2\0003\ndata: b\n\n",
	    "message|1|-1|a\nmessage|1|-1|b\nEND\n");
	SSE("sse id NUL alone ignored", "id: 7\ndata: a\n\nid:\000\ndata: b\n\n",
	    "message|7|-1|a\nmessage|7|-1|b\nEND\n");
	SSE("sse id set without data", "id: 5\n\ndata: x\n\n", "message|5|-1|x\nEND\n");
	SSE("sse id one space", "id:  7\ndata: x\n\n", "message| 7|-1|x\nEND\n");
	SSE("sse id in unfinished event", "data: a\n\nid: 9\ndata: b", "message||-1|a\nEND\n");
	SSE("sse id after data in same event", "data: a\nid: 3\n\n", "message|3|-1|a\nEND\n");
	SSE("sse retry", "retry: 1000\ndata: a\n\n", "message||1000|a\nEND\n");
	SSE("sse retry persists", "retry: 5\ndata: a\n\nretry: x\ndata: b\n\n",
	    "message||5|a\nmessage||5|b\nEND\n");
	SSE("sse retry bad values",
	    "retry: 10a\nretry: -5\nretry: 1.5\nretry:\nretry\nretry:  7\n"
	    "retry: +7\ndata: a\n\n",
	    "message||-1|a\nEND\n");
	SSE("sse retry leading zeros", "retry: 00042\ndata: a\n\n", "message||42|a\nEND\n");
	SSE("sse retry zero", "retry: 0\ndata: a\n\n", "message||0|a\nEND\n");
	SSE("sse retry no space", "retry:250\ndata: a\n\n", "message||250|a\nEND\n");
	SSE("sse retry saturates", "retry: 99999999999999999999999\ndata: a\n\n",
	    "message||9223372036854775807|a\nEND\n");
	SSE("sse retry max int64", "retry: 9223372036854775807\ndata: a\n\n",
	    "message||9223372036854775807|a\nEND\n");
	SSE("sse retry without data", "retry: 3\n\ndata: a\n\n", "message||3|a\nEND\n");
	SSE("sse no dispatch on empty data", "\n\n\n\r\n\r", "END\n");
	SSE("sse no dispatch type only", "event: x\n\n", "END\n");
	SSE("sse unfinished event dropped", "data: a\n\ndata: b\n", "message||-1|a\nEND\n");
	SSE("sse unfinished line dropped", "data: a\n\ndata: b", "message||-1|a\nEND\n");
	SSE("sse unfinished after CR", "data: a\n\ndata: b\r", "message||-1|a\nEND\n");
	SSE("sse NUL in data", "data: a\000b\n\n", "message||-1|a\\x00b\nEND\n");
	SSE("sse high bytes pass", "data: \xc3\xa9\xff\n\n",
	    "message||-1|\\xc3\\xa9\\xff\n"
	    "END\n");
	SSE("sse empty input", "", "END\n");
	SSE("sse everything",
	    "\xef\xbb\xbf: c\r\nevent: upd\r\nid: 42\r\nretry: 3000\r\n"
	    "data: {\"a\":\r\ndata:  1}\r\n\r\n: ping\n\ndata: two\rid\r\r",
	    "upd|42|3000|{\"a\":\\n 1}\nmessage||3000|two\nEND\n");
	SSE("sse many small", "data:1\n\ndata:2\n\ndata:3\n\ndata:4\n\ndata:5\n\n",
	    "message||-1|1\nmessage||-1|2\nmessage||-1|3\nmessage||-1|4\nmessage||-1|5\nEND\n");
}

static void
test_ndjson(void)
{
	NDJ("ndjson basic", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\nEND\n");
	NDJ("ndjson CRLF", "{}\r\n[1]\r\n", "{}\n[1]\nEND\n");
	NDJ("ndjson blank lines", "\n\n{}\n  \n\t\r\n[1]\n\n", "{}\n[1]\nEND\n");
	NDJ("ndjson last line without LF", "{}\n{\"x\":1}", "{}\n{\"x\":1}\nEND\n");
	NDJ("ndjson last line CR only", "{}\n{\"x\":1}\r", "{}\n{\"x\":1}\nEND\n");
	NDJ("ndjson last line blank", "{}\n   ", "{}\nEND\n");
	NDJ("ndjson whitespace trimmed", "  {} \t\r\n\t[ 1 ]  \n", "{}\n[ 1 ]\nEND\n");
	NDJ("ndjson CR inside is not a line end", "{}\r{}\n", "{}\\r{}\nEND\n");
	NDJ("ndjson scalars", "1\n\"s\"\nnull\ntrue\n", "1\n\"s\"\nnull\ntrue\nEND\n");
	NDJ("ndjson data: is not special", "data: {}\n", "data: {}\nEND\n");
	NDJ("ndjson empty", "", "END\n");
	NDJ("ndjson only blanks", "\n\r\n \n", "END\n");
	NDJ("ndjson BOM dropped", "\xef\xbb\xbf{}\n", "{}\nEND\n");
	NDJ("ndjson partial BOM kept", "\xef\xbb{}\n", "\\xef\\xbb{}\nEND\n");
	NDJ("ndjson partial BOM at EOF", "\xef\xbb", "\\xef\\xbb\nEND\n");
	NDJ("ndjson NUL passes", "{\"a\":\"\000\"}\n", "{\"a\":\"\\x00\"}\nEND\n");
}

static void
test_execd(void)
{
	EXD("execd command stream",
	    "{\"type\":\"init\",\"text\":\"740b\",\"timestamp\":1}\n\n"
	    "{\"type\":\"stdout\",\"text\":\"hi\",\"timestamp\":2}\n\n"
	    "{\"type\":\"stdout\",\"text\":\"\\n\",\"timestamp\":3}\n\n"
	    "{\"type\":\"execution_complete\",\"execution_time\":15,\"timestamp\":4}\n\n",
	    "{\"type\":\"init\",\"text\":\"740b\",\"timestamp\":1}\n"
	    "{\"type\":\"stdout\",\"text\":\"hi\",\"timestamp\":2}\n"
	    "{\"type\":\"stdout\",\"text\":\"\\\\n\",\"timestamp\":3}\n"
	    "{\"type\":\"execution_complete\",\"execution_time\":15,\"timestamp\":4}\nEND\n");
	EXD("execd data: prefix", "data: {\"type\":\"init\"}\n\ndata:{\"a\":1}\n\n",
	    "{\"type\":\"init\"}\n{\"a\":1}\nEND\n");
	EXD("execd ignored lines", ": ping\nevent: x\nid: 1\nretry: 5\n{\"a\":1}\n\n:\n",
	    "{\"a\":1}\nEND\n");
	EXD("execd trailing raw error",
	    "{\"type\":\"init\",\"text\":\"s1\"}\n\n"
	    "{\"code\":\"RUNTIME_ERROR\",\"message\":\"error running in session. timeout after 5s\"}",
	    "{\"type\":\"init\",\"text\":\"s1\"}\n"
	    "{\"code\":\"RUNTIME_ERROR\",\"message\":\"error running in session. timeout after 5s\"}\n"
	    "END\n");
	EXD("execd metrics watch single LF", "{\"cpu\":1}\n{\"cpu\":2}\n{\"error\":\"x\"}\n",
	    "{\"cpu\":1}\n{\"cpu\":2}\n{\"error\":\"x\"}\nEND\n");
	EXD("execd CRLF", "{}\r\n\r\n[]\r\n\r\n", "{}\n[]\nEND\n");
	EXD("execd empty data skipped", "data:\ndata: \n{}\n", "{}\nEND\n");
	EXD("execd whitespace", "  {\"a\":1}  \n\t\n", "{\"a\":1}\nEND\n");
	EXD("execd data with spaces", "data:   {}  \n", "{}\nEND\n");
	EXD("execd last line data:", "{}\n\ndata: {\"z\":1}", "{}\n{\"z\":1}\nEND\n");
	EXD("execd last line comment", "{}\n\n: bye", "{}\nEND\n");
	EXD("execd indented ignored lines", "  event: x\n  : c\n{}\n", "{}\nEND\n");
	EXD("execd empty", "", "END\n");
}

/* Caps: a line or joined data of exactly max passes, one more byte fails. */
static void
test_caps(void)
{
	static const char line16[] = "data: 0123456789\n\n"; /* the line is 16 bytes */
	static const char line17[] = "data: 0123456789A\n\n";
	static const char join16[] = "data: aaaaaaaa\ndata: bbbbbbb\n\n"; /* 8+1+7 */
	static const char join17[] = "data: aaaaaaaa\ndata: bbbbbbbb\n\n";
	static const char ev_then_big[] = "data: ok\n\ndata: 0123456789ABCDEF\n\n";
	static const char comment17[] = ": 0123456789ABCDE\ndata: x\n\n";
	static const char nd16[] = "{\"a\":\"12345678\"}\n"; /* 16 bytes */
	static const char nd17[] = "{\"a\":\"123456789\"}\n";
	static const char nd17eof[] = "{}\n{\"a\":\"1234567890\"}";
	static const char ex17[] = "{}\n\ndata: {\"a\":\"12345\"}\n\n";

	check_mode("cap sse line == max", STREAM_SSE, 16, line16, sizeof(line16) - 1,
	    "message||-1|0123456789\nEND\n");
	check_mode("cap sse line > max", STREAM_SSE, 16, line17, sizeof(line17) - 1, "ERR 2\n");
	check_mode("cap sse joined == max", STREAM_SSE, 16, join16, sizeof(join16) - 1,
	    "message||-1|aaaaaaaa\\nbbbbbbb\nEND\n");
	check_mode("cap sse joined > max", STREAM_SSE, 16, join17, sizeof(join17) - 1, "ERR 2\n");
	check_mode("cap sse event then too big", STREAM_SSE, 16, ev_then_big,
	    sizeof(ev_then_big) - 1, "message||-1|ok\nERR 2\n");
	check_mode("cap sse comment line counts", STREAM_SSE, 16, comment17, sizeof(comment17) - 1,
	    "ERR 2\n");
	check_mode("cap ndjson == max", STREAM_NDJSON, 16, nd16, sizeof(nd16) - 1,
	    "{\"a\":\"12345678\"}\nEND\n");
	check_mode("cap ndjson > max", STREAM_NDJSON, 16, nd17, sizeof(nd17) - 1, "ERR 2\n");
	check_mode("cap ndjson > max at EOF", STREAM_NDJSON, 16, nd17eof, sizeof(nd17eof) - 1,
	    "{}\nERR 2\n");
	check_mode("cap execd > max", STREAM_EXECD, 16, ex17, sizeof(ex17) - 1, "{}\nERR 2\n");
}

/* ---- reference models, written from the specs as literally as possible ---- */

static void
model_sse(const char *in, size_t len, struct out *o)
{
	static char data[1 << 16], type[1 << 16], id[1 << 16];
	size_t dn = 0, tn = 0, idn = 0, i = 0, ls, le, colon, vs;
	int64_t retry = -1;
	struct stream_event ev;

	o->len = 0;
	o->s[0] = '\0';
	if (len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len) {
		ls = i;
		while (i < len && in[i] != '\r' && in[i] != '\n')
			i++;
		if (i == len)
			break; /* unterminated: discarded */
		le = i;
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			i++;
		i++;
		if (le == ls) { /* dispatch */
			if (dn == 0) {
				tn = 0;
				continue;
			}
			if (data[dn - 1] == '\n')
				dn--;
			ev.data = (struct str){ data, dn };
			ev.type = tn ? (struct str){ type, tn } : STR_LIT("message");
			ev.id = (struct str){ id, idn };
			ev.retry_ms = retry;
			out_event(o, STREAM_SSE, &ev);
			dn = tn = 0;
			continue;
		}
		if (in[ls] == ':')
			continue;
		for (colon = ls; colon < le && in[colon] != ':'; colon++)
			;
		vs = colon < le ? colon + 1 : le;
		if (vs < le && in[vs] == ' ')
			vs++;
#define FIELD(name) (colon - ls == sizeof(name) - 1 && memcmp(in + ls, name, colon - ls) == 0)
		if (FIELD("data")) {
			memcpy(data + dn, in + vs, le - vs);
			dn += le - vs;
			data[dn++] = '\n';
		} else if (FIELD("event")) {
			memcpy(type, in + vs, le - vs);
			tn = le - vs;
		} else if (FIELD("id")) {
			if (memchr(in + vs, '\0', le - vs) == NULL) {
				memcpy(id, in + vs, le - vs);
				idn = le - vs;
			}
		} else if (FIELD("retry")) {
			size_t k;
			int64_t v = 0;

			for (k = vs; k < le && in[k] >= '0' && in[k] <= '9'; k++)
				v = v > (INT64_MAX - 9) / 10 ? INT64_MAX : v * 10 + (in[k] - '0');
			if (k == le && le > vs)
				retry = v;
		}
#undef FIELD
	}
	out_puts(o, "END\n");
}

static bool
model_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
model_lines(enum stream_mode mode, const char *in, size_t len, struct out *o)
{
	size_t i = 0, s, e;
	struct stream_event ev = { .type = { "", 0 }, .id = { "", 0 }, .retry_ms = -1 };

	o->len = 0;
	o->s[0] = '\0';
	if (len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len) {
		s = i;
		while (i < len && in[i] != '\n')
			i++;
		e = i;
		if (i < len)
			i++;
		while (s < e && model_ws(in[s]))
			s++;
		while (e > s && model_ws(in[e - 1]))
			e--;
		if (s == e)
			continue;
		if (mode == STREAM_EXECD) {
			if (in[s] == ':')
				continue;
			if ((e - s >= 6 && memcmp(in + s, "event:", 6) == 0) ||
			    (e - s >= 3 && memcmp(in + s, "id:", 3) == 0) ||
			    (e - s >= 6 && memcmp(in + s, "retry:", 6) == 0))
				continue;
			if (e - s >= 5 && memcmp(in + s, "data:", 5) == 0) {
				s += 5;
				while (s < e && model_ws(in[s]))
					s++;
				if (s == e)
					continue;
			}
		}
		ev.data = (struct str){ in + s, e - s };
		out_event(o, mode, &ev);
	}
	out_puts(o, "END\n");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *const tokens[] = {
	"data",
	"data:",
	"data: ",
	"event:",
	"event: t",
	"id:",
	"id: 1",
	"retry:",
	"retry: 12",
	":",
	" ",
	"x",
	"yz",
	"12",
	"\r",
	"\n",
	"\r\n",
	"\n\n",
	"\r\r",
	"\0",
	"\xef\xbb\xbf",
	"\xef",
	"{}",
	"[1]",
	"\t",
	"a:b",
	"data:  v",
	"retry: 9x",
};

static size_t
gen(char *p, size_t max)
{
	size_t n = 0, k = rng() % 40, t, tl;

	if (rng() % 8 == 0 && max >= 3) {
		memcpy(p, "\xef\xbb\xbf", 3);
		n = 3;
	}
	while (k-- > 0) {
		t = rng() % (sizeof(tokens) / sizeof(tokens[0]));
		tl = tokens[t][0] == '\0' ? 1 : strlen(tokens[t]);
		if (n + tl > max)
			break;
		memcpy(p + n, tokens[t], tl);
		n += tl;
	}
	return n;
}

static void
test_models(void)
{
	static struct out want;
	static const enum stream_mode modes[] = { STREAM_SSE, STREAM_NDJSON, STREAM_EXECD };
	char in[512];
	size_t cuts[6], len, nc, i, k, m, bad, first_bad_len = 0;

	for (m = 0; m < 3; m++) {
		bad = 0;
		for (i = 0; i < 4000; i++) {
			len = gen(in, sizeof(in));
			if (modes[m] == STREAM_SSE)
				model_sse(in, len, &want);
			else
				model_lines(modes[m], in, len, &want);
			nc = rng() % 6;
			for (k = 0; k < nc; k++)
				cuts[k] = len ? rng() % (len + 1) : 0;
			/* ascending */
			for (k = 1; k < nc; k++) {
				size_t j = k, t;

				while (j > 0 && cuts[j - 1] > cuts[j]) {
					t = cuts[j];
					cuts[j] = cuts[j - 1];
					cuts[j - 1] = t;
					j--;
				}
			}
			run(modes[m], 0, in, len, cuts, nc, &got);
			if (strcmp(got.s, want.s) != 0 && bad++ == 0) {
				first_bad_len = len;
				want_buf.len = 0;
				want_buf.s[0] = '\0';
				out_esc(&want_buf, in, len);
				note("  input: %s", want_buf.s);
				note("  got:\n%s  want:\n%s", got.s, want.s);
			}
		}
		ok(bad == 0,
		    "%s matches the reference model on 4000 random split streams "
		    "(%zu bad, first len %zu)",
		    stream_mode_name(modes[m]), bad, first_bad_len);
	}
}

static void
test_zero_copy(void)
{
	static const char sse[] = "id: 1\nevent: e\ndata: hello\n\n";
	static const char multi[] = "data: a\ndata: b\n\n";
	static const char nd[] = "{\"a\":1}\n{\"b\":2}\n";
	struct stream_dec d;
	struct stream_event ev;
	struct err e = { 0 };
	const char *p;
	ssize_t r;

	stream_dec_init(&d, STREAM_SSE, 0);
	p = guard_copy(sse, sizeof(sse) - 1);
	r = stream_next(&d, p, sizeof(sse) - 1, &ev, &e);
	is_int(r, (ssize_t)sizeof(sse) - 1, "zero-copy: event consumes the whole buffer");
	ok(ev.data.p >= p && ev.data.p + ev.data.len <= p + sizeof(sse) - 1 && ev.data.len == 5 &&
	        memcmp(ev.data.p, "hello", 5) == 0,
	    "zero-copy: single-line SSE data points into the caller's buffer");
	ok(ev.type.p >= p && ev.type.p < p + sizeof(sse) - 1 && ev.type.len == 1,
	    "zero-copy: SSE event type points into the caller's buffer");
	ok(ev.id.len == 1 && ev.id.p[0] == '1', "zero-copy: id is set");
	guard_retire();
	stream_dec_fini(&d);

	stream_dec_init(&d, STREAM_SSE, 0);
	p = guard_copy(multi, sizeof(multi) - 1);
	r = stream_next(&d, p, sizeof(multi) - 1, &ev, &e);
	ok(r > 0 && ev.data.len == 3 && memcmp(ev.data.p, "a\nb", 3) == 0,
	    "multi-line data is joined (copied)");
	guard_retire();
	stream_dec_fini(&d);

	stream_dec_init(&d, STREAM_NDJSON, 0);
	p = guard_copy(nd, sizeof(nd) - 1);
	r = stream_next(&d, p, sizeof(nd) - 1, &ev, &e);
	ok(r == 8 && ev.data.p == p && ev.data.len == 7, "zero-copy: NDJSON line in place");
	r = stream_next(&d, p + 8, sizeof(nd) - 1 - 8, &ev, &e);
	ok(r == 8 && ev.data.p == p + 8 && ev.data.len == 7,
	    "zero-copy: second NDJSON line in place");
	r = stream_next(&d, p + 16, 0, &ev, &e);
	is_int(r, DEC_MORE, "empty rest gives DEC_MORE");
	guard_retire();
	stream_dec_fini(&d);

	stream_dec_init(&d, STREAM_EXECD, 0);
	p = guard_copy("data: {}\n\n", 10);
	r = stream_next(&d, p, 10, &ev, &e);
	ok(r == 9 && ev.data.p == p + 6 && ev.data.len == 2,
	    "zero-copy: execd data: line in place");
	guard_retire();
	stream_dec_fini(&d);
}

static void
test_api(void)
{
	struct stream_dec d;
	struct stream_event ev;
	struct err e = { 0 };
	struct out *o = &got;
	struct feed_ctx c = { STREAM_SSE, o, 2, 0 };
	ssize_t r;
	int rc;

	memset(&d, 0, sizeof(d));
	r = stream_next(&d, "data: z\n\n", 9, &ev, &e);
	ok(r == 9 && ev.data.len == 1 && ev.data.p[0] == 'z' && ev.retry_ms == -1,
	    "a zero-filled decoder decodes SSE");
	is_int(stream_end(&d, &ev, &e), 0, "stream_end: nothing left");
	is_int(stream_end(&d, &ev, &e), 0, "stream_end twice: still 0");
	r = stream_next(&d, "data: z\n\n", 9, &ev, &e);
	ok(r == DEC_ERR && e.code == ERR_INVAL, "input after stream_end is an error");
	note("  %s", e.msg);
	stream_dec_fini(&d);

	stream_dec_init(&d, STREAM_SSE, 0);
	err_clear(&e);
	r = stream_next(&d, NULL, 0, &ev, &e);
	is_int(r, DEC_MORE, "zero-length input: DEC_MORE");
	stream_dec_fini(&d);

	stream_dec_init(&d, (enum stream_mode)99, 0);
	r = stream_next(&d, "data: q\n\n", 9, &ev, &e);
	ok(r == 9 && ev.type.len == 7, "a bad mode falls back to SSE");
	stream_dec_fini(&d);

	is_str(stream_mode_name(STREAM_SSE), "SSE", "mode name SSE");
	is_str(stream_mode_name(STREAM_NDJSON), "NDJSON", "mode name NDJSON");
	is_str(stream_mode_name(STREAM_EXECD), "execd", "mode name execd");

	/* A callback error stops stream_feed and is returned. */
	o->len = 0;
	o->s[0] = '\0';
	stream_dec_init(&d, STREAM_SSE, 0);
	err_clear(&e);
	rc = stream_feed(&d, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, feed_cb, &c, &e);
	ok(rc == ERR_BACKEND && strcmp(o->s, "message||-1|1\nmessage||-1|2\n") == 0,
	    "stream_feed stops at the callback's error");
	stream_dec_fini(&d);

	/* Error message names the mode and the limit. */
	stream_dec_init(&d, STREAM_NDJSON, 8);
	err_clear(&e);
	r = stream_next(&d, "0123456789\n", 11, &ev, &e);
	ok(r == DEC_ERR && e.code == ERR_TOOBIG && strstr(e.msg, "NDJSON") != NULL &&
	        strstr(e.msg, "8-byte") != NULL,
	    "too-big error names the mode and the limit");
	note("  %s", e.msg);
	err_clear(&e);
	rc = stream_feed(&d, "x", 1, feed_cb, &c, &e);
	is_int(rc, ERR_TOOBIG, "stream_feed repeats the sticky error code");
	stream_dec_fini(&d);

	/* A huge partial line without LF is refused before it is buffered past max. */
	{
		static char big[4096];
		size_t i;

		memset(big, 'x', sizeof(big));
		stream_dec_init(&d, STREAM_SSE, 1000);
		err_clear(&e);
		for (i = 0, r = DEC_MORE; i < 10 && r == DEC_MORE; i++)
			r = stream_next(&d, big, 300, &ev, &e);
		ok(r == DEC_ERR && e.code == ERR_TOOBIG && d.line.len <= 1000,
		    "a partial line over max fails without buffering more than max");
		stream_dec_fini(&d);
	}
}

/* Long streams: many events in one read, and a CR-only stream (no rescans). */
static void
test_long(void)
{
	struct out *o = &got;
	char *in, *want;
	size_t n = 0, wn = 0, i, cuts[3];

	in = malloc(1 << 20);
	want = malloc(1 << 20);
	for (i = 0; i < 3000; i++) {
		n += (size_t)sprintf(in + n, "id: %zu\rdata: line %zu\rdata: more\r\r", i, i);
		wn += (size_t)sprintf(want + wn, "message|%zu|-1|line %zu\\nmore\n", i, i);
	}
	wn += (size_t)sprintf(want + wn, "END\n");
	run(STREAM_SSE, 0, in, n, NULL, 0, o);
	ok(strcmp(o->s, want) == 0, "3000 CR-only SSE events in one read");
	cuts[0] = n / 3;
	cuts[1] = n / 2 + 1;
	cuts[2] = n - 1;
	run(STREAM_SSE, 0, in, n, cuts, 3, o);
	ok(strcmp(o->s, want) == 0, "3000 CR-only SSE events in four reads");

	n = wn = 0;
	for (i = 0; i < 3000; i++) {
		n += (size_t)sprintf(in + n, "{\"i\":%zu}\r\n", i);
		wn += (size_t)sprintf(want + wn, "{\"i\":%zu}\n", i);
	}
	wn += (size_t)sprintf(want + wn, "END\n");
	run(STREAM_NDJSON, 0, in, n, NULL, 0, o);
	ok(strcmp(o->s, want) == 0, "3000 NDJSON lines in one read");
	cuts[0] = 1;
	cuts[1] = n / 2;
	cuts[2] = n - 2;
	run(STREAM_NDJSON, 0, in, n, cuts, 3, o);
	ok(strcmp(o->s, want) == 0, "3000 NDJSON lines in four reads");

	/* One data line of 100 KiB split across many reads. */
	n = (size_t)sprintf(in, "data: ");
	for (i = 0; i < 100000; i++)
		in[n++] = (char)('a' + i % 26);
	n += (size_t)sprintf(in + n, "\n\n");
	{
		size_t k, nc = 0;
		static size_t many[200];

		for (k = 1000; k < n && nc < 200; k += 997)
			many[nc++] = k;
		run(STREAM_SSE, 0, in, n, many, nc, o);
		ok(o->len == 12 + 100000 + 1 + 4 && memcmp(o->s, "message||-1|abcde", 17) == 0 &&
		        memcmp(o->s + o->len - 6, "d\nEND\n", 6) == 0,
		    "a 100 KB data line across %zu reads", nc + 1);
	}
	free(in);
	free(want);
}

int
main(void)
{
	test_sse();
	test_ndjson();
	test_execd();
	test_caps();
	test_zero_copy();
	test_api();
	test_long();
	test_models();
	return done_testing();
}
