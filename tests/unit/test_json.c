/*
 * test_json.c -- json.h (strict RFC 8259 parser) and jsonw.h (writer).
 *
 * Covers every accept/reject rule with the byte offset the error names, every prefix
 * of valid documents (placed against a PROT_NONE guard page, so an over-read faults),
 * the nesting limit, 64-bit integers and doubles, escape and surrogate decoding,
 * duplicate keys, the JSONTestSuite-style corpus in $SANDBOX_MCP_ROOT/tests/data/json
 * (y_ must parse, n_ must be rejected, i_ is our documented choice), and the writer:
 * escaping, U+FFFD for invalid UTF-8, commas and nesting, misuse errors, doubles,
 * jsonw_value and parse(write(parse(x))) round trips, never a raw newline.
 *
 * Documented implementation-defined behaviour (asserted below, so a change is noticed):
 *  - duplicate object keys are kept in document order; json_get returns the first;
 *  - numbers of any size or exponent are accepted and keep their text; json_int fails
 *    outside int64, json_double gives +-HUGE_VAL on overflow and 0 on underflow;
 *  - a UTF-8 BOM is rejected (RFC 8259 §8.1: senders MUST NOT add one);
 *  - noncharacters (U+FFFF, U+10FFFE, U+FDD0) are accepted, raw or escaped;
 *  - "\u0000" decodes to a NUL byte inside s[0..len) (len counts it).
 */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"

#include "split.h"
#include "tap.h"

#define ARENA_MAX (64u << 20)

/* ---- helpers ------------------------------------------------------------------- */

/* Parses n bytes of s into a fresh arena; *ap receives the arena (free it). */
static struct json *
parse_n(const char *s, size_t n, struct arena **ap, struct err *e)
{
	*ap = arena_new(ARENA_MAX);
	err_clear(e);
	return json_parse(s, n, *ap, e);
}

/* Is the message exactly "invalid JSON at byte OFF: <contains reason>"? */
static bool
msg_is(const struct err *e, size_t off, const char *reason)
{
	char want[64];
	size_t wl;

	snprintf(want, sizeof(want), "invalid JSON at byte %zu: ", off);
	wl = strlen(want);
	return e->code == ERR_INVAL && strncmp(e->msg, want, wl) == 0 &&
	    strstr(e->msg + wl, reason) != NULL;
}

static bool
json_eq(const struct json *a, const struct json *b)
{
	const struct json *x, *y;

	if (a == NULL || b == NULL || a->type != b->type)
		return false;
	switch (a->type) {
	case JSON_NULL:
	case JSON_TRUE:
	case JSON_FALSE:
		return true;
	case JSON_NUMBER:
	case JSON_STRING:
		return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (a->count != b->count)
			return false;
		for (x = a->head, y = b->head; x != NULL && y != NULL; x = x->next, y = y->next) {
			if (a->type == JSON_OBJECT &&
			    (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0))
				return false;
			if (!json_eq(x, y))
				return false;
		}
		return x == NULL && y == NULL;
	}
	return false;
}

/* Serializes v with jsonw_value; returns malloc'd text (len in *n) or NULL on error. */
static char *
write_value(const struct json *v, size_t *n)
{
	struct buf b;
	struct jsonw w;

	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_value(&w, v);
	if (jsonw_error(&w)) {
		note("  writer error: %s", w.err.msg);
		buf_fini(&b);
		return NULL;
	}
	*n = b.len;
	return buf_steal(&b);
}

/* True when the writer's output is one line of valid UTF-8 with no control bytes. */
static bool
one_clean_line(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20)
			return false;
	}
	return str_utf8_valid(s, n);
}

/* parse(x) == parse(write(parse(x))) and write is a fixed point; false with a note. */
static bool
round_trips(const char *doc, size_t n)
{
	struct arena *a1, *a2;
	struct err e;
	struct json *v1, *v2;
	char *w1 = NULL, *w2 = NULL;
	size_t n1 = 0, n2 = 0;
	bool good = false;

	v1 = parse_n(doc, n, &a1, &e);
	if (v1 == NULL) {
		note("  parse: %s", e.msg);
		arena_free(a1);
		return false;
	}
	w1 = write_value(v1, &n1);
	if (w1 == NULL)
		goto out;
	v2 = parse_n(w1, n1, &a2, &e);
	if (v2 == NULL) {
		note("  re-parse of \"%s\": %s", w1, e.msg);
	} else if (!json_eq(v1, v2)) {
		note("  re-parsed DOM differs: \"%s\"", w1);
	} else if ((w2 = write_value(v2, &n2)) == NULL || n1 != n2 || memcmp(w1, w2, n1) != 0) {
		note("  second write differs");
	} else if (!one_clean_line(w1, n1)) {
		note("  output is not one clean line of UTF-8");
	} else {
		good = true;
	}
	arena_free(a2);
out:
	free(w1);
	free(w2);
	arena_free(a1);
	return good;
}

/* Minimal independent number grammar (RFC 8259 §6), the oracle for the prefix test. */
static bool
is_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		if (++i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
trim(const char *s, size_t n, size_t *b, size_t *e)
{
	*b = 0;
	*e = n;
	while (*b < *e && is_ws(s[*b]))
		(*b)++;
	while (*e > *b && is_ws(s[*e - 1]))
		(*e)--;
}

/*
 * Every proper prefix of the valid document doc[0..n) is parsed from a guard-page
 * copy. A prefix that is itself valid (a shorter number, or the document without some
 * trailing whitespace) must parse; every other prefix must fail with "unexpected end
 * of input" at byte k. Returns the number of prefixes that broke the rule.
 */
static int
check_prefixes(const char *doc, size_t n)
{
	size_t k, db, de, pb, pe;
	int bad = 0;

	trim(doc, n, &db, &de);
	for (k = 0; k < n; k++) {
		const char *p = guard_copy(doc, k);
		struct arena *a;
		struct err e;
		struct json *v = parse_n(p, k, &a, &e);
		bool valid;

		trim(doc, k, &pb, &pe);
		valid = pe > pb &&
		    ((pe - pb == de - db && pb == db) || is_number(doc + pb, pe - pb));
		if (valid && v == NULL) {
			if (bad++ < 3)
				note("  prefix %zu should parse: %s", k, e.msg);
		} else if (!valid && (v != NULL || !msg_is(&e, k, "unexpected end of input"))) {
			if (bad++ < 3)
				note("  prefix %zu: %s", k, v != NULL ? "accepted" : e.msg);
		}
		arena_free(a);
		guard_retire();
	}
	return bad;
}

/* ---- accept / reject rules ------------------------------------------------------- */

struct rej {
	const char *doc;
	size_t len; /* 0: strlen(doc) */
	size_t off;
	const char *reason;
};

#define REJ(d, o, r)                   \
	{                              \
		d, sizeof(d) - 1, o, r \
	}

static const struct rej rejects[] = {
	/* nothing */
	REJ("", 0, "unexpected end of input"),
	REJ(" \t\r\n", 4, "unexpected end of input"),
	/* trailing commas */
	REJ("[1,]", 3, "trailing comma"),
	REJ("[1, 2 , ]", 8, "trailing comma"),
	REJ("{\"a\":1,}", 7, "trailing comma"),
	REJ("{\"a\":1 , \n}", 10, "trailing comma"),
	REJ("[1,,2]", 3, "unexpected character ','"),
	REJ("[,1]", 1, "unexpected character ','"),
	REJ("[,]", 1, "unexpected character ','"),
	REJ("{,}", 1, "unexpected character ','"),
	REJ("{\"a\":1,,\"b\":2}", 7, "unexpected character ','"),
	REJ("[1],", 3, "trailing characters after value"),
	/* comments */
	REJ("/* c */ 1", 0, "unexpected character '/'"),
	REJ("[1 // c\n]", 3, "unexpected character '/'"),
	REJ("[1]/**/", 3, "trailing characters after value"),
	REJ("{\"a\":/*c*/1}", 5, "unexpected character '/'"),
	REJ("# c\n1", 0, "unexpected character '#'"),
	REJ("{\"a\":\"b\"}#", 9, "trailing characters after value"),
	/* quotes, keys, separators */
	REJ("'a'", 0, "unexpected character '''"),
	REJ("{'a':1}", 1, "unexpected character '''"),
	REJ("{a:1}", 1, "unexpected character 'a'"),
	REJ("{1:1}", 1, "unexpected character '1'"),
	REJ("{null:null}", 1, "unexpected character 'n'"),
	REJ("{\"a\" 1}", 5, "unexpected character '1'"),
	REJ("{\"a\"::1}", 5, "unexpected character ':'"),
	REJ("{\"a\",1}", 4, "unexpected character ','"),
	REJ("{\"a\"}", 4, "unexpected character '}'"),
	REJ("{:1}", 1, "unexpected character ':'"),
	REJ("{\"a\":}", 5, "unexpected character '}'"),
	REJ("{\"a\":1 \"b\":2}", 7, "unexpected character '\"'"),
	REJ("[1 2]", 3, "unexpected character '2'"),
	REJ("[1:2]", 2, "unexpected character ':'"),
	REJ("[1}", 2, "unexpected character '}'"),
	REJ("{\"a\":1]", 6, "unexpected character ']'"),
	REJ("{]", 1, "unexpected character ']'"),
	REJ("]", 0, "unexpected character ']'"),
	REJ("}", 0, "unexpected character '}'"),
	REJ("[1]]", 3, "trailing characters after value"),
	REJ("{}}", 2, "trailing characters after value"),
	REJ("1 2", 2, "trailing characters after value"),
	REJ("[][]", 2, "trailing characters after value"),
	REJ("\"a\" \"b\"", 4, "trailing characters after value"),
	REJ("*", 0, "unexpected character '*'"),
	REJ("[*]", 1, "unexpected character '*'"),
	REJ("<null>", 0, "unexpected character '<'"),
	/* literals */
	REJ("True", 0, "unexpected character 'T'"),
	REJ("trUe", 2, "unexpected character 'U'"),
	REJ("nul", 3, "unexpected end of input"),
	REJ("nulll", 4, "trailing characters after value"),
	REJ("[truex]", 5, "unexpected character 'x'"),
	REJ("[fals]", 5, "unexpected character ']'"),
	REJ("undefined", 0, "unexpected character 'u'"),
	/* numbers */
	REJ("01", 0, "leading zero"),
	REJ("-01", 1, "leading zero"),
	REJ("[00]", 1, "leading zero"),
	REJ("-00.5", 1, "leading zero"),
	REJ("[012]", 1, "leading zero"),
	REJ("+1", 0, "unexpected character '+'"),
	REJ("[+1]", 1, "unexpected character '+'"),
	REJ(".5", 0, "unexpected character '.'"),
	REJ("[-.5]", 2, "unexpected character '.'"),
	REJ("[1.]", 3, "unexpected character ']'"),
	REJ("1.e5", 2, "unexpected character 'e'"),
	REJ("[1e]", 3, "unexpected character ']'"),
	REJ("[1E+]", 4, "unexpected character ']'"),
	REJ("[0e+-1]", 4, "unexpected character '-'"),
	REJ("[1eE2]", 3, "unexpected character 'E'"),
	REJ("[-]", 2, "unexpected character ']'"),
	REJ("- 1", 1, "unexpected character ' '"),
	REJ("--1", 1, "unexpected character '-'"),
	REJ("NaN", 0, "unexpected character 'N'"),
	REJ("[-NaN]", 2, "unexpected character 'N'"),
	REJ("Infinity", 0, "unexpected character 'I'"),
	REJ("-Infinity", 1, "unexpected character 'I'"),
	REJ("0x1F", 1, "trailing characters after value"),
	REJ("[0x1F]", 2, "unexpected character 'x'"),
	REJ("1_000", 1, "trailing characters after value"),
	REJ("1.5.2", 3, "trailing characters after value"),
	REJ("[1.2a-3]", 4, "unexpected character 'a'"),
	REJ("[\xef\xbc\x91]", 1, "unexpected byte 0xef"),
	/* bad escapes */
	REJ("\"\\a\"", 2, "invalid escape"),
	REJ("\"\\x41\"", 2, "invalid escape"),
	REJ("\"\\U0041\"", 2, "invalid escape"),
	REJ("\"\\'\"", 2, "invalid escape"),
	REJ("\"\\0\"", 2, "invalid escape"),
	REJ("\"\\\t\"", 2, "invalid escape"),
	REJ("\"\\\xc3\xa9\"", 2, "invalid escape"),
	REJ("\"\\u00G0\"", 5, "invalid escape"),
	REJ("\"\\u12\"", 5, "invalid escape"),
	REJ("\"\\uqqqq\"", 3, "invalid escape"),
	REJ("[\\n]", 1, "unexpected character '\\'"),
	REJ("[\"\\\\\\\"]", 7, "unexpected end of input"),
	/* lone and broken surrogates, escaped */
	REJ("\"\\uD800\"", 1, "lone surrogate"),
	REJ("\"\\udbff\"", 1, "lone surrogate"),
	REJ("\"\\uDC00\"", 1, "lone surrogate"),
	REJ("[\"a\\uDFFF\"]", 3, "lone surrogate"),
	REJ("\"\\uD800\\u0041\"", 1, "lone surrogate"),
	REJ("\"\\uD800\\uD800\"", 1, "lone surrogate"),
	REJ("\"\\uDD1E\\uD834\"", 1, "lone surrogate"),
	REJ("\"\\uD800x\"", 1, "lone surrogate"),
	REJ("\"\\uD800\\n\"", 1, "lone surrogate"),
	REJ("\"\\uD800\\\"", 1, "lone surrogate"),
	REJ("\"\\uD800\\u1x00\"", 10, "invalid escape"),
	REJ("{\"\\uDFAA\":0}", 2, "lone surrogate"),
	/* raw surrogates and invalid UTF-8 */
	REJ("\"\xed\xa0\x80\"", 1, "lone surrogate"),
	REJ("\"\xed\xbf\xbf\"", 1, "lone surrogate"),
	REJ("\"\xed\xa0\xbd\xed\xb8\x80\"", 1, "lone surrogate"),
	REJ("\"\xff\"", 1, "invalid UTF-8"),
	REJ("\"\xfe\"", 1, "invalid UTF-8"),
	REJ("\"\x80\"", 1, "invalid UTF-8"),
	REJ("\"ab\xbf\"", 3, "invalid UTF-8"),
	REJ("\"\xc0\xaf\"", 1, "invalid UTF-8"),
	REJ("\"\xc1\xbf\"", 1, "invalid UTF-8"),
	REJ("\"\xe0\x80\xaf\"", 1, "invalid UTF-8"),
	REJ("\"\xe0\x9f\xbf\"", 1, "invalid UTF-8"),
	REJ("\"\xf0\x80\x80\xaf\"", 1, "invalid UTF-8"),
	REJ("\"\xf0\x8f\xbf\xbf\"", 1, "invalid UTF-8"),
	REJ("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8"),
	REJ("\"\xf5\x80\x80\x80\"", 1, "invalid UTF-8"),
	REJ("\"\xf8\x88\x80\x80\x80\"", 1, "invalid UTF-8"),
	REJ("\"\xfc\x83\xbf\xbf\xbf\xbf\"", 1, "invalid UTF-8"),
	REJ("\"\xe2\x82\"", 1, "invalid UTF-8"),
	REJ("\"a\xc3(\"", 2, "invalid UTF-8"),
	REJ("\"\xe9\"", 1, "invalid UTF-8"),
	REJ("\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\"", 6, "invalid UTF-8"),
	REJ("{\"\xb9\":\"0\",}", 2, "invalid UTF-8"),
	REJ("[\xff]", 1, "unexpected byte 0xff"),
	REJ("\xc3\xa9", 0, "unexpected byte 0xc3"),
	REJ("[\xe2\x81\xa0]", 1, "unexpected byte 0xe2"),
	/* BOM (RFC 8259 §8.1), UTF-16 */
	REJ("\xef\xbb\xbf{}", 0, "unexpected byte 0xef"),
	REJ("\xef\xbb\xbf", 0, "unexpected byte 0xef"),
	REJ("\xff\xfe[\0\"\0]\0", 0, "unexpected byte 0xff"),
	/* control characters: in strings (each listed below in a loop) and whitespace */
	REJ("\"a\nb\"", 2, "control character in string"),
	REJ("\"\t\"", 1, "control character in string"),
	REJ("[\"a\0a\"]", 3, "control character in string"),
	REJ("[\v1]", 1, "unexpected byte 0x0b"),
	REJ("[\f]", 1, "unexpected byte 0x0c"),
	REJ("[\0]", 1, "unexpected byte 0x00"),
	REJ("1\0", 1, "trailing characters after value"),
	REJ("\xc2\xa0"
	    "1",
	    0, "unexpected byte 0xc2"),
	/* unclosed */
	REJ("[", 1, "unexpected end of input"),
	REJ("{", 1, "unexpected end of input"),
	REJ("[1", 2, "unexpected end of input"),
	REJ("[1,", 3, "unexpected end of input"),
	REJ("{\"a\"", 4, "unexpected end of input"),
	REJ("{\"a\":", 5, "unexpected end of input"),
	REJ("{\"a\":1", 6, "unexpected end of input"),
	REJ("\"abc", 4, "unexpected end of input"),
	REJ("\"\\", 2, "unexpected end of input"),
	REJ("\"\\u12", 5, "unexpected end of input"),
	REJ("\"\\uD834", 7, "unexpected end of input"),
	REJ("\"\\uD834\\", 8, "unexpected end of input"),
	REJ("\"\\uD834\\uDD", 11, "unexpected end of input"),
	REJ("\"\xf0\x9d\x84", 4, "unexpected end of input"),
	REJ("[\"asd]", 6, "unexpected end of input"),
	REJ("-", 1, "unexpected end of input"),
	REJ("1.", 2, "unexpected end of input"),
	REJ("1e+", 3, "unexpected end of input"),
	REJ("[ true, fals", 12, "unexpected end of input"),
};

static void
test_reject_rules(void)
{
	size_t i;
	char doc[16];

	for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		const struct rej *r = &rejects[i];
		const char *p = guard_copy(r->doc, r->len);
		struct arena *a;
		struct err e;
		struct json *v = parse_n(p, r->len, &a, &e);

		if (!ok(v == NULL && msg_is(&e, r->off, r->reason), "rejects #%zu at byte %zu: %s",
		        i, r->off, r->reason))
			note("  got %s", v != NULL ? "a value" : e.msg);
		arena_free(a);
		guard_retire();
	}
	/* Every control character is rejected raw in a string, and accepted escaped. */
	int bad = 0;
	for (i = 0; i < 0x20; i++) {
		struct arena *a;
		struct err e;
		struct json *v;

		snprintf(doc, sizeof(doc), "\"x?\"");
		doc[2] = (char)i;
		v = parse_n(doc, 4, &a, &e);
		if (v != NULL || !msg_is(&e, 2, "control character in string"))
			bad++;
		arena_free(a);
		snprintf(doc, sizeof(doc), "\"\\u%04zx\"", i);
		v = parse_n(doc, strlen(doc), &a, &e);
		if (v == NULL || v->len != 1 || (size_t)(unsigned char)v->s[0] != i)
			bad++;
		arena_free(a);
	}
	is_int(bad, 0, "each of U+0000..U+001F is rejected raw and decoded when escaped");
	/* Every byte that is not whitespace or a value start is rejected up front. */
	bad = 0;
	for (i = 0; i < 256; i++) {
		struct arena *a;
		struct err e;

		if (strchr(" \t\r\n[{\"-0123456789tfn", (int)i) != NULL && i != 0)
			continue;
		doc[0] = (char)i;
		if (parse_n(doc, 1, &a, &e) != NULL || !msg_is(&e, 0, "unexpected"))
			bad++;
		arena_free(a);
	}
	is_int(bad, 0, "every other first byte is rejected at byte 0");
}

static const char *const accepts[] = {
	"0",
	"-0",
	"1",
	"-1",
	"0.0",
	"-0.0",
	"0e0",
	"0E+0",
	"0e-0",
	"1.5e10",
	"-1.5E-10",
	"10",
	"123456789012345678901234567890",
	"1e999999",
	"1e-999999",
	"0.000001",
	"true",
	"false",
	"null",
	"\"\"",
	" \"a\" ",
	"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	"[]",
	"{}",
	" [ ] ",
	"\t\n\r {\"a\" : [ 1 , 2 ] } \t\n\r",
	"[[],{},[{}]]",
	"{\"\":\"\"}",
	"\"/*not a comment*/\"",
	"[1,\"a\",true,false,null,{\"k\":[]}]",
	"\"\x7f\"",
	"\"\xc2\x80\"",
	"\"\xdf\xbf\"",
	"\"\xe0\xa0\x80\"",
	"\"\xed\x9f\xbf\"",
	"\"\xee\x80\x80\"",
	"\"\xef\xbf\xbf\"",
	"\"\xf0\x90\x80\x80\"",
	"\"\xf4\x8f\xbf\xbf\"",
	"\"\\uD7FF\\uE000\\uFFFF\\uFDD0\\uDBFF\\uDFFE\"",
	"\"\\u0000\"",
	"\"\xe2\x80\xa8\"",
	"{\"a\":{\"b\":{\"c\":[0,-0.5e+3,\"\\u00e9\"]}}}",
	"[\"a\" ,\"b\"\n,\n\"c\"]",
};

static void
test_accept_rules(void)
{
	size_t i;

	for (i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
		const char *p = guard_copy(accepts[i], strlen(accepts[i]));
		struct arena *a;
		struct err e;

		if (!ok(parse_n(p, strlen(accepts[i]), &a, &e) != NULL, "accepts %s", accepts[i]))
			note("  %s", e.msg);
		arena_free(a);
		guard_retire();
	}
	/* A NULL buffer of length 0 is the empty document. */
	struct arena *a = arena_new(1024);
	struct err e = { 0 };

	ok(json_parse(NULL, 0, a, &e) == NULL && msg_is(&e, 0, "unexpected end of input"),
	    "NULL, 0 is the empty document");
	arena_free(a);
}

/* ---- prefixes -------------------------------------------------------------------- */

static const char *const prefix_docs[] = {
	("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
	 "\"arguments\":{\"cmd\":[\"ls\",\"-l\"],\"timeout\":-1.5e+3}}}"),
	" [ true , false , null , -0.25E-7 , \"\\ud834\\udd1e\\u00e9\\n\" , { } , [ ] ] ",
	"\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\"",
	"-1234.5678e+90",
	"0",
	"  0.5  ",
	"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\"",
	"{\"a\":{\"b\":[[[{}]]]},\"\":0}",
	"true",
	"null",
	"false",
};

static void
test_prefixes(void)
{
	size_t i;

	for (i = 0; i < sizeof(prefix_docs) / sizeof(prefix_docs[0]); i++) {
		int bad = check_prefixes(prefix_docs[i], strlen(prefix_docs[i]));

		ok(bad == 0, "every prefix of document %zu (%zu bytes) is handled", i,
		    strlen(prefix_docs[i]));
	}
}

/* ---- nesting --------------------------------------------------------------------- */

/* open x depth, then mid, then close x depth (malloc'd, NUL-terminated). */
static char *
nested(const char *open, const char *mid, const char *close, int depth, size_t *n)
{
	size_t ol = strlen(open), ml = strlen(mid), cl = strlen(close), i;
	char *s = malloc((ol + cl) * (size_t)depth + ml + 1), *p = s;

	for (i = 0; i < (size_t)depth; i++, p += ol)
		memcpy(p, open, ol);
	memcpy(p, mid, ml);
	p += ml;
	for (i = 0; i < (size_t)depth; i++, p += cl)
		memcpy(p, close, cl);
	*p = '\0';
	*n = (size_t)(p - s);
	return s;
}

static void
test_nesting(void)
{
	struct arena *a;
	struct err e;
	struct json *v;
	size_t n;
	char *s;
	int d;

	s = nested("[", "", "]", JSON_DEPTH_MAX, &n);
	v = parse_n(s, n, &a, &e);
	for (d = 1; v != NULL && v->head != NULL; v = v->head)
		d++;
	is_int(d, JSON_DEPTH_MAX, "%d nested arrays parse", JSON_DEPTH_MAX);
	arena_free(a);
	free(s);

	s = nested("[", "", "]", JSON_DEPTH_MAX + 1, &n);
	v = parse_n(s, n, &a, &e);
	ok(v == NULL && msg_is(&e, 128, "nesting deeper than 128"),
	    "129 nested arrays fail at byte 128: %s", e.msg);
	arena_free(a);
	free(s);

	s = nested("{\"a\":", "{}", "}", JSON_DEPTH_MAX - 1, &n);
	v = parse_n(s, n, &a, &e);
	ok(v != NULL && n == 764, "128 nested objects parse");
	arena_free(a);
	free(s);
	s = nested("{\"a\":", "{}", "}", JSON_DEPTH_MAX, &n);
	v = parse_n(s, n, &a, &e);
	ok(v == NULL && msg_is(&e, 640, "nesting deeper than 128"),
	    "129 nested objects fail at byte 640: %s", e.msg);
	arena_free(a);
	free(s);

	s = nested("[{\"k\":", "0", "}]", 64, &n);
	v = parse_n(s, n, &a, &e);
	ok(v != NULL, "64 x [{ (128 levels, mixed) parse");
	arena_free(a);
	free(s);
	s = nested("[{\"k\":", "0", "}]", 65, &n);
	v = parse_n(s, n, &a, &e);
	ok(v == NULL && msg_is(&e, 64 * 6, "nesting"), "65 x [{ fail at byte 384: %s", e.msg);
	arena_free(a);
	free(s);

	/* Far past the limit: no stack overflow, the error comes at the 129th bracket. */
	n = 1000000;
	s = malloc(n);
	memset(s, '[', n);
	v = parse_n(s, n, &a, &e);
	ok(v == NULL && msg_is(&e, 128, "nesting deeper than 128"),
	    "a million '[' fail at byte 128");
	arena_free(a);
	free(s);
}

/* ---- numbers --------------------------------------------------------------------- */

struct intcase {
	const char *text;
	bool good;
	int64_t want;
};

static const struct intcase intcases[] = {
	{ "0", true, 0 },
	{ "-0", true, 0 },
	{ "7", true, 7 },
	{ "-7", true, -7 },
	{ "9223372036854775807", true, INT64_MAX },
	{ "-9223372036854775808", true, INT64_MIN },
	{ "9223372036854775808", false, 0 },
	{ "-9223372036854775809", false, 0 },
	{ "18446744073709551615", false, 0 },
	{ "18446744073709551616", false, 0 },
	{ "99999999999999999999999999999", false, 0 },
	{ "9007199254740993", true, 9007199254740993LL },
	{ "-9007199254740993", true, -9007199254740993LL },
	{ "1e3", true, 1000 },
	{ "1E+3", true, 1000 },
	{ "10.0", true, 10 },
	{ "1.5e1", true, 15 },
	{ "120.5e1", true, 1205 },
	{ "0.05e2", true, 5 },
	{ "123000e-3", true, 123 },
	{ "100e-2", true, 1 },
	{ "-0.0e-7", true, 0 },
	{ "0e99999999999999999999", true, 0 },
	{ "1e18", true, 1000000000000000000LL },
	{ "1e19", false, 0 },
	{ "9.223372036854775807e18", true, INT64_MAX },
	{ "9.223372036854775808e18", false, 0 },
	{ "-9.223372036854775808e18", true, INT64_MIN },
	{ "0.5", false, 0 },
	{ "1e-1", false, 0 },
	{ "1.0000000000000000001", false, 0 },
	{ "12345678901234567890e-10", false, 0 },
	{ "1e99999999999999999999", false, 0 },
};

static void
test_numbers(void)
{
	static const char doc[] =
	    "[12345678901234567890123, 1.0e+28, -0.0, 1E400, 9223372036854775807, 0.1]";
	static const char dbls[] = "[1.5, -0, 1e400, -1e400, 1e-400, 9007199254740993, 0.1, \"1\"]";
	static const char *const texts[] = { "12345678901234567890123", "1.0e+28", "-0.0", "1E400",
		"9223372036854775807", "0.1" };
	struct arena *a;
	struct err e;
	struct json *v;
	const struct json *c;
	size_t i;
	int64_t iv;
	double d;

	v = parse_n(doc, sizeof(doc) - 1, &a, &e);
	ok(v != NULL && v->count == 6, "number array parses");
	for (i = 0, c = v ? v->head : NULL; c != NULL && i < 6; c = c->next, i++) {
		ok(c->type == JSON_NUMBER && c->len == strlen(texts[i]) &&
		        strcmp(c->s, texts[i]) == 0,
		    "number text kept verbatim: %s", texts[i]);
	}
	arena_free(a);

	for (i = 0; i < sizeof(intcases) / sizeof(intcases[0]); i++) {
		const struct intcase *t = &intcases[i];
		bool got;

		v = parse_n(t->text, strlen(t->text), &a, &e);
		iv = 12345;
		got = v != NULL && json_int(v, &iv);
		if (t->good) {
			if (!ok(got && iv == t->want, "json_int(%s) = %" PRId64, t->text, t->want))
				note("  got %s %" PRId64, got ? "true" : "false", iv);
		} else {
			ok(v != NULL && !got, "json_int(%s) is false (not an int64)", t->text);
		}
		arena_free(a);
	}

	v = parse_n(dbls, sizeof(dbls) - 1, &a, &e);
	ok(v != NULL, "double array parses");
	ok(json_double(json_at(v, 0), &d) && d == 1.5, "json_double 1.5");
	ok(json_double(json_at(v, 1), &d) && d == 0 && signbit(d), "json_double -0 keeps the sign");
	ok(json_double(json_at(v, 2), &d) && isinf(d) && d > 0, "json_double 1e400 is +inf");
	ok(json_double(json_at(v, 3), &d) && isinf(d) && d < 0, "json_double -1e400 is -inf");
	ok(json_double(json_at(v, 4), &d) && d == 0, "json_double 1e-400 is 0");
	ok(json_double(json_at(v, 5), &d) && d == 9007199254740992.0,
	    "json_double 2^53+1 rounds to nearest even");
	ok(json_int(json_at(v, 5), &iv) && iv == 9007199254740993LL, "json_int 2^53+1 is exact");
	ok(json_double(json_at(v, 6), &d) && d == 0.1, "json_double 0.1");
	ok(!json_double(json_at(v, 7), &d) && !json_int(json_at(v, 7), &iv),
	    "json_double/json_int refuse a string");
	ok(!json_int(NULL, &iv) && !json_double(NULL, &d), "json_int/json_double refuse NULL");
	arena_free(a);
}

/* ---- strings, escapes, keys -------------------------------------------------------- */

struct strcase {
	const char *doc;
	const char *want;
	size_t want_len;
};

#define STRC(d, w)                  \
	{                           \
		d, w, sizeof(w) - 1 \
	}

/* clang-format off */
static const struct strcase strcases[] = {
	STRC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"),
	STRC("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9"),
	STRC("\"\\u0000\"", "\0"),
	STRC("\"a\\u0000b\"", "a\0b"),
	STRC("\"\\u007f\\u0080\\u07FF\\u0800\"", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80"),
	STRC("\"\\u20AC\\uFFFF\\uD7FF\\uE000\"", "\xe2\x82\xac\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80"),
	STRC("\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e"),
	STRC("\"\\ud834\\udd1e\"", "\xf0\x9d\x84\x9e"),
	STRC("\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80"),
	STRC("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf"),
	STRC("\"\\ud83d\\ude39\\ud83d\\udc8d\"", "\xf0\x9f\x98\xb9\xf0\x9f\x92\x8d"),
	STRC("\"x\\uD834\\uDD1Ey\\n\"", "x\xf0\x9d\x84\x9ey\n"),
	STRC("\"\\\\u0041\"", "\\u0041"),
	STRC("\"\\\\\\u0041\"", "\\A"),
	STRC("\"\\u005C\\u0022\"", "\\\""),
	STRC("\"\xf0\x9d\x84\x9e\\/\"", "\xf0\x9d\x84\x9e/"),
	STRC("\"/*c*/ //x\"", "/*c*/ //x"),
	STRC("\"\"", ""),
};
/* clang-format on */

static void
test_strings(void)
{
	static const char keydoc[] = "{\"foo\\u0000bar\":42,\"\\u00e9\":1}";
	struct arena *a;
	struct err e;
	struct json *v;
	const struct json *c;
	size_t i;
	char *copy;

	for (i = 0; i < sizeof(strcases) / sizeof(strcases[0]); i++) {
		const struct strcase *t = &strcases[i];

		v = parse_n(t->doc, strlen(t->doc), &a, &e);
		ok(v != NULL && v->type == JSON_STRING && v->len == t->want_len &&
		        memcmp(v->s, t->want, t->want_len) == 0 && v->s[v->len] == '\0',
		    "decodes %s", t->doc);
		arena_free(a);
	}

	/* Keys are decoded too, and may hold NUL. */
	v = parse_n(keydoc, sizeof(keydoc) - 1, &a, &e);
	c = v ? v->head : NULL;
	ok(c != NULL && c->key_len == 7 && memcmp(c->key, "foo\0bar", 7) == 0,
	    "key with \\u0000 decodes to 7 bytes");
	ok(json_get(v, "\xc3\xa9") != NULL && json_get(v, "foo") == NULL,
	    "json_get matches decoded keys exactly");
	arena_free(a);

	/* The DOM owns copies: scribbling over the input leaves it intact. */
	copy = strdup("{\"k\":\"v\\n\",\"n\":12,\"a\":[\"x\"]}");
	v = parse_n(copy, strlen(copy), &a, &e);
	memset(copy, '#', strlen(copy));
	ok(v != NULL && strcmp(json_get_str(v, "k"), "v\n") == 0 &&
	        strcmp(json_get(v, "n")->s, "12") == 0 &&
	        strcmp(json_at(json_get(v, "a"), 0)->s, "x") == 0,
	    "the DOM does not point into the input buffer");
	free(copy);
	arena_free(a);
}

static void
test_dom(void)
{
	static const char doc[] =
	    "{\"a\":\"b\",\"a\":\"c\",\"t\":true,\"f\":false,\"z\":null,\"arr\":[10,20,30],\"o\":{}}";
	struct arena *a;
	struct err e;
	struct json *v;
	const struct json *c;
	int64_t iv;

	v = parse_n(doc, sizeof(doc) - 1, &a, &e);
	ok(v != NULL && v->type == JSON_OBJECT && v->count == 7,
	    "duplicate keys are kept: 7 members");
	is_str(json_get_str(v, "a"), "b", "json_get returns the first of duplicate keys");
	c = v ? v->head->next : NULL;
	ok(c != NULL && strcmp(c->key, "a") == 0 && strcmp(c->s, "c") == 0,
	    "the second duplicate follows in document order");
	ok(json_truthy(json_get(v, "t")) && !json_truthy(json_get(v, "f")) &&
	        !json_truthy(json_get(v, "z")) && !json_truthy(NULL),
	    "json_truthy");
	ok(json_is_bool(json_get(v, "t")) && json_is_bool(json_get(v, "f")) &&
	        !json_is_bool(json_get(v, "z")) && !json_is_bool(NULL),
	    "json_is_bool");
	ok(json_get(v, "z") != NULL && json_get(v, "z")->type == JSON_NULL, "null member");
	ok(json_get(v, "missing") == NULL && json_get(NULL, "a") == NULL &&
	        json_get(json_get(v, "arr"), "a") == NULL && json_get(v, NULL) == NULL,
	    "json_get: missing key, NULL, non-object");
	ok(json_get_str(v, "t") == NULL, "json_get_str of a non-string is NULL");
	c = json_get(v, "arr");
	ok(c != NULL && c->count == 3 && json_int(json_at(c, 2), &iv) && iv == 30 &&
	        json_at(c, 3) == NULL && json_at(v, 0) == NULL,
	    "json_at in range, out, non-array");
	ok(json_get(v, "o") != NULL && json_get(v, "o")->count == 0 &&
	        json_get(v, "o")->head == NULL,
	    "empty object");
	ok(strcmp(json_type_name(JSON_NULL), "null") == 0 &&
	        strcmp(json_type_name(JSON_TRUE), "boolean") == 0 &&
	        strcmp(json_type_name(JSON_FALSE), "boolean") == 0 &&
	        strcmp(json_type_name(JSON_NUMBER), "number") == 0 &&
	        strcmp(json_type_name(JSON_STRING), "string") == 0 &&
	        strcmp(json_type_name(JSON_ARRAY), "array") == 0 &&
	        strcmp(json_type_name(JSON_OBJECT), "object") == 0,
	    "json_type_name");
	ok(v != NULL && v->key == NULL && json_at(c, 0)->key == NULL,
	    "root and array elements have no key");
	arena_free(a);
}

static void
test_arena_limit(void)
{
	struct arena *a = arena_new(4096);
	struct err e = { 0 };
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, "[", NULL);
	for (i = 0; i < 1000; i++)
		buf_puts(&b, i ? ",\"abcdefgh\"" : "\"abcdefgh\"", NULL);
	buf_puts(&b, "]", NULL);
	ok(json_parse(b.p, b.len, a, &e) == NULL && e.code == ERR_TOOBIG &&
	        strstr(e.msg, "memory limit") != NULL,
	    "a full arena gives ERR_TOOBIG: %s", e.msg);
	arena_free(a);
	a = arena_new(ARENA_MAX);
	err_clear(&e);
	ok(json_parse(b.p, b.len, a, &e) != NULL, "the same document fits a bigger arena");
	arena_free(a);
	buf_fini(&b);
}

/* ---- corpus ------------------------------------------------------------------------ */

static char *
read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc(len > 0 ? (size_t)len : 1);
	if (len > 0 && fread(p, 1, (size_t)len, f) != (size_t)len) {
		free(p);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*n = (size_t)len;
	return p;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_corpus(void)
{
	const char *root = getenv("SANDBOX_MCP_ROOT");
	char dir[4096], path[8192];
	char **names = NULL;
	size_t nnames = 0, i, ny = 0, nn = 0, ni = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/data/json", root ? root : ".");
	d = opendir(dir);
	if (!ok(d != NULL, "corpus directory %s opens (set SANDBOX_MCP_ROOT)", dir))
		return;
	while ((de = readdir(d)) != NULL) {
		if ((de->d_name[0] != 'y' && de->d_name[0] != 'n' && de->d_name[0] != 'i') ||
		    de->d_name[1] != '_' || !str_has_suffix(de->d_name, ".json"))
			continue;
		names = realloc(names, (nnames + 1) * sizeof(*names));
		names[nnames++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, nnames, sizeof(*names), cmp_str);
	for (i = 0; i < nnames; i++) {
		const char *nm = names[i];
		struct arena *a;
		struct err e;
		struct json *v;
		size_t n = 0;
		char *data;
		const char *p;

		snprintf(path, sizeof(path), "%s/%s", dir, nm);
		data = read_file(path, &n);
		if (!ok(data != NULL, "read %s", nm))
			continue;
		p = guard_copy(data, n);
		v = parse_n(p, n, &a, &e);
		if (nm[0] == 'y') {
			ny++;
			if (!ok(v != NULL, "%s parses", nm))
				note("  %s", e.msg);
		} else if (nm[0] == 'n') {
			nn++;
			if (!ok(v == NULL && e.code == ERR_INVAL &&
			            strncmp(e.msg, "invalid JSON at byte ", 21) == 0 &&
			            strtoul(e.msg + 21, NULL, 10) <= n,
			        "%s is rejected", nm))
				note("  got %s", v != NULL ? "a value" : e.msg);
			else
				note("  %s", e.msg);
		} else {
			/* Implementation-defined: we accept numbers of any size (text kept). */
			ni++;
			if (str_has_prefix(nm, "i_number_")) {
				if (!ok(v != NULL, "%s is accepted (numbers keep their text)", nm))
					note("  %s", e.msg);
			} else {
				ok(1, "%s: %s", nm, v != NULL ? "accepted" : e.msg);
			}
		}
		arena_free(a);
		guard_retire();
		if (nm[0] == 'y') {
			ok(round_trips(data, n), "%s round-trips through jsonw", nm);
			if (n <= 4096)
				ok(check_prefixes(data, n) == 0, "every prefix of %s is handled",
				    nm);
		}
		free(data);
		free(names[i]);
	}
	free(names);
	ok(ny >= 90 && nn >= 180, "corpus has %zu y_, %zu n_, %zu i_ files", ny, nn, ni);
}

/* ---- writer ------------------------------------------------------------------------ */

/* Writes one string with jsonw_strn and returns the output (static buffer). */
static const char *
wstr(const char *s, size_t n)
{
	static char out[256];
	struct buf b;
	struct jsonw w;

	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_strn(&w, s, n);
	snprintf(out, sizeof(out), "%s", jsonw_error(&w) ? "(error)" : b.p);
	buf_fini(&b);
	return out;
}

struct esccase {
	const char *in;
	size_t len;
	const char *want;
};

#define ESC(i, w)                   \
	{                           \
		i, sizeof(i) - 1, w \
	}

/* clang-format off */
static const struct esccase esccases[] = {
	ESC("", "\"\""),
	ESC("plain ascii / ok", "\"plain ascii / ok\""),
	ESC("\"\\", "\"\\\"\\\\\""),
	ESC("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""),
	ESC("a\0b", "\"a\\u0000b\""),
	ESC("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""),
	ESC("\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e", "\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\""),
	ESC("\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xaa", "\"\\u2028|\\u2029|\xe2\x80\xaa\""),
	/* Invalid UTF-8: one U+FFFD per maximal subpart (Unicode §3.9). */
	ESC("\xff", "\"\xef\xbf\xbd\""),
	ESC("a\x80z", "\"a\xef\xbf\xbdz\""),
	ESC("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""),
	ESC("\xe2\x82", "\"\xef\xbf\xbd\""),
	ESC("\xe2\x82" "A", "\"\xef\xbf\xbd" "A\""),
	ESC("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
	ESC("\xe0\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
	ESC("\xf0\x9f\x98", "\"\xef\xbf\xbd\""),
	ESC("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""),
	ESC("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
	ESC("\xf8\x88\x80\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
	ESC("\xe2\x28\xa1", "\"\xef\xbf\xbd(\xef\xbf\xbd\""),
	ESC("\xc3\n", "\"\xef\xbf\xbd\\n\""),
};
/* clang-format on */

static void
test_writer_escapes(void)
{
	size_t i;
	int bad = 0;
	char in[2];

	for (i = 0; i < sizeof(esccases) / sizeof(esccases[0]); i++) {
		const struct esccase *t = &esccases[i];

		is_str(wstr(t->in, t->len), t->want, "jsonw escapes case %zu", i);
	}
	/* Every single byte: the output is one clean line of UTF-8 that parses back. */
	for (i = 0; i < 256; i++) {
		const char *o;
		struct arena *a;
		struct err e;
		struct json *v;

		in[0] = (char)i;
		o = wstr(in, 1);
		v = parse_n(o, strlen(o), &a, &e);
		if (!one_clean_line(o, strlen(o)) || v == NULL || v->type != JSON_STRING ||
		    (i < 0x80 && (v->len != 1 || v->s[0] != in[0])) ||
		    (i >= 0x80 && strcmp(v->s, "\xef\xbf\xbd") != 0))
			bad++;
		arena_free(a);
	}
	is_int(bad, 0, "every single byte is escaped or replaced and parses back");
	is_str(wstr(NULL, 0), "null", "jsonw_strn(NULL) writes null");
}

/* Random byte strings: output always valid, decodes back to the input when it was valid. */
static void
test_writer_random(void)
{
	unsigned seed = 12345;
	int round, bad = 0, valid_in = 0;
	char in[64];

	for (round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 64), i;
		struct buf b;
		struct jsonw w;
		struct arena *a;
		struct err e;
		struct json *v;

		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Bias towards UTF-8 structure bytes and controls. */
			unsigned r = seed >> 16;
			static const unsigned char pick[] = { 0x00, 0x0a, 0x22, 0x5c, 0x7f, 0x80,
				0xbf, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xff, 0xa0,
				0x9f };
			in[i] = (char)(r & 1 ? pick[(r >> 1) % sizeof(pick)] : (r >> 1) & 0xff);
		}
		buf_init(&b, 0);
		jsonw_init(&w, &b);
		jsonw_obj_begin(&w);
		jsonw_keyn(&w, in, n);
		jsonw_strn(&w, in, n);
		jsonw_obj_end(&w);
		v = parse_n(b.p, b.len, &a, &e);
		if (jsonw_error(&w) || !one_clean_line(b.p, b.len) || v == NULL)
			bad++;
		else if (str_utf8_valid(in, n)) {
			valid_in++;
			if (v->head->len != n || memcmp(v->head->s, in, n) != 0 ||
			    v->head->key_len != n || memcmp(v->head->key, in, n) != 0)
				bad++;
		}
		arena_free(a);
		buf_fini(&b);
	}
	is_int(bad, 0,
	    "20000 random keys/strings: one clean line, parses, exact when valid "
	    "(%d valid inputs)",
	    valid_in);
}

static void
test_writer_structure(void)
{
	struct buf b;
	struct jsonw w;
	int i;

	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "a", "x");
	jsonw_key(&w, "arr");
	jsonw_arr_begin(&w);
	jsonw_int(&w, 1);
	jsonw_int(&w, -2);
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_obj_begin(&w);
	jsonw_knull(&w, "n");
	jsonw_obj_end(&w);
	jsonw_str(&w, NULL);
	jsonw_bool(&w, true);
	jsonw_arr_end(&w);
	jsonw_kint(&w, "i", INT64_MIN);
	jsonw_kbool(&w, "f", false);
	jsonw_kstrn(&w, "s", "ab", 1);
	jsonw_key(&w, "u");
	jsonw_uint(&w, UINT64_MAX);
	jsonw_key(&w, "raw");
	jsonw_raw(&w, "{\"r\":[1]}", 9);
	jsonw_obj_end(&w);
	is_int(jsonw_error(&w), 0, "structured write has no error");
	is_str(b.p,
	    "{\"a\":\"x\",\"arr\":[1,-2,[],{},{\"n\":null},null,true],"
	    "\"i\":-9223372036854775808,\"f\":false,\"s\":\"a\",\"u\":18446744073709551615,"
	    "\"raw\":{\"r\":[1]}}",
	    "commas and nesting");
	buf_fini(&b);

	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_int(&w, INT64_MAX);
	is_str(b.p, "9223372036854775807", "a bare top-level number");
	jsonw_int(&w, 1);
	ok(jsonw_error(&w) == ERR_INVAL && strstr(w.err.msg, "second top-level value"),
	    "a second top-level value is misuse: %s", w.err.msg);
	jsonw_null(&w);
	is_str(b.p, "9223372036854775807", "nothing is written after an error");
	buf_fini(&b);

	/* jsonw_raw keeps the line promise even for text that breaks it. */
	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_arr_begin(&w);
	jsonw_raw(&w, "{\n\t\"a\" :\r\n [1,2]}", 17);
	jsonw_raw(&w, "\"\xc3\xa9\xff\xe2\x82\"", 7);
	jsonw_arr_end(&w);
	is_str(b.p, "[{  \"a\" :   [1,2]},\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\"]",
	    "jsonw_raw turns control bytes into spaces and bad UTF-8 into U+FFFD");
	buf_fini(&b);

	/* Misuse cases, each on a fresh writer. */
	struct {
		const char *what;
		int steps;
	} mis[] = {
		{ "key outside an object", 0 },
		{ "two keys in a row", 1 },
		{ "end with no open", 2 },
		{ "key with no value", 3 },
		{ "NULL key", 4 },
		{ "empty raw value", 5 },
	};
	for (i = 0; i < (int)(sizeof(mis) / sizeof(mis[0])); i++) {
		buf_init(&b, 0);
		jsonw_init(&w, &b);
		switch (mis[i].steps) {
		case 0:
			jsonw_key(&w, "k");
			break;
		case 1:
			jsonw_obj_begin(&w);
			jsonw_key(&w, "a");
			jsonw_key(&w, "b");
			break;
		case 2:
			jsonw_arr_begin(&w);
			jsonw_arr_end(&w);
			jsonw_arr_end(&w);
			break;
		case 3:
			jsonw_obj_begin(&w);
			jsonw_key(&w, "a");
			jsonw_obj_end(&w);
			break;
		case 4:
			jsonw_obj_begin(&w);
			jsonw_key(&w, NULL);
			break;
		case 5:
			jsonw_arr_begin(&w);
			jsonw_raw(&w, "", 0);
			break;
		}
		ok(jsonw_error(&w) == ERR_INVAL, "misuse: %s (%s)", mis[i].what, w.err.msg);
		buf_fini(&b);
	}

	/* Nesting limit. */
	buf_init(&b, 0);
	jsonw_init(&w, &b);
	for (i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw_arr_begin(&w);
	is_int(jsonw_error(&w), 0, "%d nested arrays are fine", JSONW_DEPTH_MAX);
	jsonw_obj_begin(&w);
	ok(jsonw_error(&w) == ERR_INVAL && strstr(w.err.msg, "nesting deeper than 128"),
	    "one more level is misuse: %s", w.err.msg);
	buf_fini(&b);

	/* A capped buffer: the first ERR_TOOBIG sticks and nothing more is written. */
	buf_init(&b, 16);
	jsonw_init(&w, &b);
	jsonw_arr_begin(&w);
	for (i = 0; i < 10; i++)
		jsonw_str(&w, "abc");
	ok(jsonw_error(&w) == ERR_TOOBIG && b.len <= 16,
	    "capped buffer: ERR_TOOBIG (%s), %zu bytes", w.err.msg, b.len);
	jsonw_arr_end(&w);
	ok(jsonw_error(&w) == ERR_TOOBIG, "the error sticks");
	buf_fini(&b);
}

static void
test_writer_doubles(void)
{
	static const struct {
		double v;
		const char *want;
	} dc[] = {
		{ 0.0, "0" },
		{ -0.0, "-0" },
		{ 1.0, "1" },
		{ -1.5, "-1.5" },
		{ 0.1, "0.1" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 100.0, "100" },
		{ 1.5e10, "15000000000" },
		{ 1e20, "100000000000000000000" },
		{ 1e21, "1e+21" },
		{ 123456789012.0, "123456789012" },
		{ 1e-7, "1e-07" },
		{ 5e-324, "5e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 9007199254740993.0, "9007199254740992" },
	};
	struct buf b;
	struct jsonw w;
	size_t i;
	unsigned seed = 7;
	int bad = 0;

	for (i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
		buf_init(&b, 0);
		jsonw_init(&w, &b);
		jsonw_double(&w, dc[i].v);
		is_str(b.p, dc[i].want, "jsonw_double %.17g", dc[i].v);
		buf_fini(&b);
	}
	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_arr_begin(&w);
	jsonw_double(&w, NAN);
	jsonw_double(&w, INFINITY);
	jsonw_double(&w, -INFINITY);
	jsonw_arr_end(&w);
	is_str(b.p, "[null,null,null]", "non-finite doubles write null");
	buf_fini(&b);

	/* Random bit patterns: the text is valid JSON and reads back as the same double. */
	for (i = 0; i < 20000; i++) {
		uint64_t bits = 0;
		double v, back;
		struct arena *a;
		struct err e;
		struct json *j;
		int k;

		for (k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			bits = bits << 16 | (seed >> 16);
		}
		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		buf_init(&b, 0);
		jsonw_init(&w, &b);
		jsonw_double(&w, v);
		j = parse_n(b.p, b.len, &a, &e);
		if (j == NULL || j->type != JSON_NUMBER || !json_double(j, &back) ||
		    memcmp(&back, &v, sizeof(v)) != 0) {
			if (bad++ < 3)
				note("  %.17g -> %s", v, b.p);
		}
		arena_free(a);
		buf_fini(&b);
	}
	is_int(bad, 0, "random doubles round-trip exactly through jsonw_double");
}

static const char *const rt_docs[] = {
	("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"result\":{\"content\":[{\"type\":"
	 "\"text\",\"text\":\"line1\\nline2\\u2028\\u0000\\\"q\\\"\"}],\"isError\":false}}"),
	"[1.0e+28, -0.0, 12345678901234567890123, 1E-2, 0]",
	"{\"a\":\"b\",\"a\":\"c\"}",
	"\"\xe2\x80\xa8\xe2\x80\xa9\\/\"",
	"  [ {  } , [ ] , \"\" , { \"\" : { \"\" : [ ] } } ]  ",
	"{\"\\u0000\\n\\t\":\"\\ud83d\\ude00\"}",
};

static void
test_writer_value(void)
{
	struct arena *a;
	struct err e;
	struct json *v;
	size_t i, n;
	char *out;

	for (i = 0; i < sizeof(rt_docs) / sizeof(rt_docs[0]); i++)
		ok(round_trips(rt_docs[i], strlen(rt_docs[i])), "round trip of document %zu", i);

	v = parse_n(rt_docs[1], strlen(rt_docs[1]), &a, &e);
	out = write_value(v, &n);
	is_str(out, "[1.0e+28,-0.0,12345678901234567890123,1E-2,0]",
	    "jsonw_value keeps number text and drops whitespace");
	free(out);
	arena_free(a);

	v = parse_n(rt_docs[0], strlen(rt_docs[0]), &a, &e);
	out = write_value(v, &n);
	ok(out != NULL && memchr(out, '\n', n) == NULL && strstr(out, "\\n") != NULL &&
	        strstr(out, "\\u2028") != NULL && strstr(out, "\\u0000") != NULL,
	    "jsonw_value output has no raw newline: %s", out ? out : "(null)");
	free(out);
	arena_free(a);

	{
		struct buf b;
		struct jsonw w;

		buf_init(&b, 0);
		jsonw_init(&w, &b);
		jsonw_value(&w, NULL);
		is_str(b.p, "null", "jsonw_value(NULL) writes null");
		buf_fini(&b);
	}

	/* 128 levels from the parser fit the writer. */
	{
		size_t sn;
		char *s = nested("[{\"k\":", "0", "}]", 64, &sn);

		ok(round_trips(s, sn), "a 128-level document round-trips");
		free(s);
	}
}

/* json_check_names: duplicates and NULs in member names, at any depth, small and large. */
static int
names_rc(const char *doc, struct err *e)
{
	struct arena *a;
	struct json *v = parse_n(doc, strlen(doc), &a, e);
	int rc = v == NULL ? -1 : json_check_names(v, a, e);

	arena_free(a);
	return rc;
}

/* {"k0":0,"k1":1,...} with n members; member `dup` (>= 0) is named k0 again. */
static char *
names_object(int n, int dup)
{
	struct buf b;
	int j;

	buf_init(&b, 0);
	buf_puts(&b, "{", NULL);
	for (j = 0; j < n; j++)
		buf_printf(&b, NULL, "%s\"k%d\":%d", j ? "," : "", j == dup ? 0 : j, j);
	buf_puts(&b, "}", NULL);
	return buf_steal(&b);
}

static void
test_names(void)
{
	static const char *unique[] = {
		"{}",
		"[]",
		"1",
		"\"x\"",
		"{\"a\":1,\"b\":2}",
		"{\"a\":{\"a\":{\"a\":1}}}",
		"[{\"a\":1},{\"a\":2}]",
		"{\"a\":1,\"A\":2,\"a \":3,\"\":4}",
		"{\"\\u00e9\":1,\"e\\u0301\":2}",
		"{\"name\":\"exec\",\"arguments\":{\"name\":\"x\"}}",
	};
	struct err e;
	size_t i;
	int k;

	for (i = 0; i < sizeof(unique) / sizeof(unique[0]); i++)
		is_int(names_rc(unique[i], &e), 0, "unique names pass: %s", unique[i]);

	is_int(names_rc("{\"name\":\"exec\",\"name\":\"file_read\"}", &e), ERR_INVAL,
	    "a duplicate at the top is refused");
	is_str(e.msg, "duplicate member name \"name\" in the top-level object",
	    "the sentence names the member and the top level");
	names_rc("{\"jsonrpc\":\"2.0\",\"params\":{\"arguments\":{\"path\":\"/a\",\"x\":1,"
	         "\"path\":\"/etc/shadow\"}}}",
	    &e);
	is_str(e.msg, "duplicate member name \"path\" in params.arguments",
	    "a nested duplicate is named with its path");
	names_rc("{\"a\":[1,{\"b\":[{},{\"c\":0,\"c\":1}]}]}", &e);
	is_str(e.msg, "duplicate member name \"c\" in a[1].b[1]",
	    "array indexes appear in the path");
	names_rc("[[{\"k\":1,\"k\":1}]]", &e);
	is_str(e.msg, "duplicate member name \"k\" in [0][0]", "a path that starts in an array");
	is_int(names_rc("{\"\\u00e9\":1,\"\\u00E9\":2}", &e), ERR_INVAL,
	    "names equal after unescaping are duplicates");
	is_int(names_rc("{\"a\\u0000b\":1}", &e), ERR_INVAL, "a NUL in a member name is refused");
	ok(strstr(e.msg, "U+0000") != NULL && strstr(e.msg, "top-level") != NULL,
	    "the NUL sentence says so: %s", e.msg);
	is_int(names_rc("{\"p\":{\"\\u0000\":1}}", &e), ERR_INVAL, "a name that is only NUL");
	is_int(names_rc("{\"s\":\"a\\u0000b\"}", &e), 0, "NUL in a string value is not a name");

	/* Large objects take the sorting path: a duplicate anywhere among 5000 names. */
	for (k = 0; k < 3; k++) {
		int at = k == 0 ? 1 : k == 1 ? 2500 : 4999;
		char *doc = names_object(5000, at);

		is_int(names_rc(doc, &e), ERR_INVAL,
		    "a duplicate among 5000 names (at %d) is found", at);
		free(doc);
	}
	{
		char *doc = names_object(5000, -1);

		is_int(names_rc(doc, &e), 0, "5000 distinct names pass");
		free(doc);
	}
	/* Every path fits in the sentence, however deep or long the names. */
	{
		size_t sn;
		char *s = nested("{\"a-rather-long-member-name-to-fill-the-path\":",
		    "{\"d\":1,\"d\":2}", "}", 100, &sn);

		is_int(names_rc(s, &e), ERR_INVAL, "a duplicate 100 objects deep is found");
		ok(strlen(e.msg) < sizeof(e.msg) - 1 && strstr(e.msg, "...") != NULL,
		    "a long path is cut with \"...\": %s", e.msg);
		free(s);
	}
	/* A full arena is ERR_TOOBIG, never a crash or a false pass. */
	{
		struct arena *a = arena_new(ARENA_MAX), *small;
		char *doc = names_object(100, -1);
		struct json *v = json_parse(doc, strlen(doc), a, &e);

		small = arena_new(64);
		err_clear(&e);
		is_int(json_check_names(v, small, &e), ERR_TOOBIG,
		    "no room for the index: ERR_TOOBIG");
		arena_free(small);
		arena_free(a);
		free(doc);
	}
	is_int(json_check_names(NULL, NULL, &e), 0, "json_check_names(NULL) passes");
}

int
main(void)
{
	test_accept_rules();
	test_reject_rules();
	test_prefixes();
	test_nesting();
	test_numbers();
	test_strings();
	test_dom();
	test_arena_limit();
	test_writer_escapes();
	test_writer_random();
	test_writer_structure();
	test_writer_doubles();
	test_writer_value();
	test_names();
	test_corpus();
	return done_testing();
}
