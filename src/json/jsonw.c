/*
 * jsonw.c -- streaming JSON writer: commas, escaping, sticky errors.
 *
 * Output is compact and newline-free, so one value is one MCP message line
 * (transports.mdx: "MUST NOT contain embedded newlines"). Strings are copied in runs:
 * bytes that need no escape are appended in one buf_append per run.
 *
 * The writer checks what it can see: a key outside an object, two keys in a row, an
 * end with no open container, a dangling key at an end, a second top-level value and
 * nesting past JSONW_DEPTH_MAX all become a sticky ERR_INVAL. It keeps no record of
 * whether a level is an array or an object, so a missing key inside an object or a
 * '}' closing a '[' is the caller's bug and is not detected. jsonw_raw() trusts its
 * text to be JSON but still cannot break the line: see put_raw().
 *
 * Doubles: the server never calls setlocale(), so "%g" and strtod use '.'.
 */
#include "json/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes that interrupt a run of verbatim bytes in a string: controls (and DEL),
 * '"', '\\', and non-ASCII lead/continuation bytes, which get a UTF-8 check. */
/* clang-format off */
static const unsigned char esc_stop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x20 '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,	/* 0x50 '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,	/* 0x70 DEL */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

void
jsonw_init(struct jsonw *w, struct buf *b)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->first[0] = true;
}

int
jsonw_error(const struct jsonw *w)
{
	return w->err.code;
}

static void
jsonw_misuse(struct jsonw *w, const char *what)
{
	err_set(&w->err, ERR_INVAL, "JSON writer misused: %s", what);
}

static void
put(struct jsonw *w, const void *p, size_t n)
{
	if (w->err.code == ERR_OK)
		buf_append(w->b, p, n, &w->err);
}

static void
putch(struct jsonw *w, char c)
{
	put(w, &c, 1);
}

/* Runs before every value: writes the comma it needs and consumes a pending key.
 * False when the writer is in error, so the caller writes nothing. */
static bool
jsonw_sep(struct jsonw *w)
{
	if (w->err.code != ERR_OK)
		return false;
	if (w->after_key) {
		w->after_key = false;
		return true;
	}
	if (!w->first[w->depth]) {
		if (w->depth == 0) {
			jsonw_misuse(w, "a second top-level value");
			return false;
		}
		putch(w, ',');
	}
	w->first[w->depth] = false;
	return w->err.code == ERR_OK;
}

/*
 * Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0 when it is
 * ill-formed, with *skip set to the maximal subpart to replace by one U+FFFD
 * (Unicode §3.9, "U+FFFD Substitution of Maximal Subparts"): the lead byte plus the
 * continuation bytes that could still have completed a valid sequence.
 */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end, size_t *skip)
{
	unsigned c = p[0], lo = 0x80, hi = 0xBF;
	size_t n, i;

	*skip = 1;
	if (c < 0xC2 || c > 0xF4)
		return 0;
	n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	for (i = 1; i < n; i++) {
		if (p + i >= end || p[i] < lo || p[i] > hi) {
			*skip = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return n;
}

/* Writes the escape for the byte or sequence at p and returns how many input bytes
 * it stands for. */
static size_t
put_escape(struct jsonw *w, const unsigned char *p, const unsigned char *end)
{
	static const char hex[] = "0123456789abcdef";
	char u[6] = { '\\', 'u', '0', '0', 0, 0 };
	size_t n, skip;

	switch (*p) {
	case '"':
		put(w, "\\\"", 2);
		return 1;
	case '\\':
		put(w, "\\\\", 2);
		return 1;
	case '\b':
		put(w, "\\b", 2);
		return 1;
	case '\f':
		put(w, "\\f", 2);
		return 1;
	case '\n':
		put(w, "\\n", 2);
		return 1;
	case '\r':
		put(w, "\\r", 2);
		return 1;
	case '\t':
		put(w, "\\t", 2);
		return 1;
	}
	if (*p < 0x80) {
		u[4] = hex[*p >> 4];
		u[5] = hex[*p & 15];
		put(w, u, sizeof(u));
		return 1;
	}
	n = utf8_len(p, end, &skip);
	if (n == 0) {
		put(w, "\xEF\xBF\xBD", 3);
		return skip;
	}
	/* U+2028/U+2029 are valid JSON but end a line in JavaScript. */
	put(w, p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
	return 3;
}

static void
put_string(struct jsonw *w, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len, *run;
	size_t n, skip;

	putch(w, '"');
	run = p;
	while (p < end) {
		if (!esc_stop[*p]) {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			n = utf8_len(p, end, &skip);
			if (n != 0 &&
			    !(n == 3 && p[0] == 0xE2 && p[1] == 0x80 &&
			        (p[2] == 0xA8 || p[2] == 0xA9))) {
				p += n;
				continue;
			}
		}
		put(w, run, (size_t)(p - run));
		p += put_escape(w, p, end);
		run = p;
		if (w->err.code != ERR_OK)
			return;
	}
	put(w, run, (size_t)(p - run));
	putch(w, '"');
}

static void
jsonw_open(struct jsonw *w, char c)
{
	if (!jsonw_sep(w))
		return;
	if (w->depth >= JSONW_DEPTH_MAX) {
		_Static_assert(JSONW_DEPTH_MAX == 128, "the message below names the limit");
		jsonw_misuse(w, "nesting deeper than 128 levels");
		return;
	}
	putch(w, c);
	w->depth++;
	w->first[w->depth] = true;
}

static void
jsonw_close(struct jsonw *w, char c)
{
	if (w->err.code != ERR_OK)
		return;
	if (w->depth == 0) {
		jsonw_misuse(w, "an end with no open object or array");
		return;
	}
	if (w->after_key) {
		jsonw_misuse(w, "a key with no value");
		return;
	}
	putch(w, c);
	w->depth--;
}

void
jsonw_obj_begin(struct jsonw *w)
{
	jsonw_open(w, '{');
}

void
jsonw_obj_end(struct jsonw *w)
{
	jsonw_close(w, '}');
}

void
jsonw_arr_begin(struct jsonw *w)
{
	jsonw_open(w, '[');
}

void
jsonw_arr_end(struct jsonw *w)
{
	jsonw_close(w, ']');
}

void
jsonw_keyn(struct jsonw *w, const char *key, size_t len)
{
	if (w->err.code != ERR_OK)
		return;
	if (key == NULL || w->depth == 0 || w->after_key) {
		jsonw_misuse(w,
		    key == NULL         ? "a NULL key"
		        : w->depth == 0 ? "a key outside an object"
		                        : "two keys in a row");
		return;
	}
	if (!w->first[w->depth])
		putch(w, ',');
	w->first[w->depth] = false;
	put_string(w, key, len);
	putch(w, ':');
	w->after_key = true;
}

void
jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_keyn(w, key, key != NULL ? strlen(key) : 0);
}

void
jsonw_strn(struct jsonw *w, const char *s, size_t len)
{
	if (s == NULL) {
		jsonw_null(w);
		return;
	}
	if (jsonw_sep(w))
		put_string(w, s, len);
}

void
jsonw_str(struct jsonw *w, const char *s)
{
	jsonw_strn(w, s, s != NULL ? strlen(s) : 0);
}

void
jsonw_int(struct jsonw *w, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	if (jsonw_sep(w))
		put(w, tmp, (size_t)n);
}

void
jsonw_uint(struct jsonw *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	if (jsonw_sep(w))
		put(w, tmp, (size_t)n);
}

/* Rewrites "%g" exponent form with 0 <= X < 21, such as "1.5e+10", as plain digits
 * ("15000000000"), as JavaScript's Number#toString does, so integral values up to 1e21
 * print as integers. The digits are the same, so the value reads back the same. */
static void
double_unexp(char *s)
{
	char digits[24], *e = strchr(s, 'e'), *o = s, *p;
	int x, nd = 0;

	if (e == NULL || e[1] != '+')
		return;
	x = atoi(e + 2);
	if (x >= 21)
		return;
	for (p = s; p < e; p++) {
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	}
	if (*s == '-')
		*o++ = '-';
	memcpy(o, digits, (size_t)nd);
	o += nd;
	for (; nd < x + 1; nd++)
		*o++ = '0';
	*o = '\0';
}

/*
 * Shortest "%.*g" text that reads back as v. Rounding to more digits never moves
 * further from v, so round-tripping is monotonic in the precision and a binary search
 * over 1..17 finds the shortest (17 digits always round-trip for IEEE doubles).
 * "%g" drops trailing zeros, so integral values print as "3", not "3.0".
 */
void
jsonw_double(struct jsonw *w, double v)
{
	char tmp[32], best[32];
	int lo = 1, hi = 17, mid;

	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	snprintf(best, sizeof(best), "%.17g", v);
	while (lo < hi) {
		mid = (lo + hi) / 2;
		/* The longest output, "-1.2345678901234567e-308", fits in tmp. */
		if (snprintf(tmp, sizeof(tmp), "%.*g", mid, v) < (int)sizeof(tmp) &&
		    strtod(tmp, NULL) == v) {
			memcpy(best, tmp, sizeof(tmp));
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	double_unexp(best);
	if (jsonw_sep(w))
		put(w, best, strlen(best));
}

void
jsonw_bool(struct jsonw *w, bool v)
{
	if (jsonw_sep(w))
		put(w, v ? "true" : "false", v ? 4 : 5);
}

void
jsonw_null(struct jsonw *w)
{
	if (jsonw_sep(w))
		put(w, "null", 4);
}

/*
 * Copies raw JSON text, keeping the one-line, valid-UTF-8 promise even when the caller
 * is wrong: control bytes (tab too) become spaces and ill-formed UTF-8 becomes
 * U+FFFD. Valid JSON has control bytes only as whitespace between tokens and non-ASCII
 * bytes only inside strings, so for valid input this changes at most whitespace.
 */
static void
put_raw(struct jsonw *w, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
	size_t n, skip;

	while (p < end) {
		if (*p >= 0x20 && *p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			n = utf8_len(p, end, &skip);
			if (n != 0) {
				p += n;
				continue;
			}
			put(w, run, (size_t)(p - run));
			put(w, "\xEF\xBF\xBD", 3);
			p += skip;
		} else {
			put(w, run, (size_t)(p - run));
			putch(w, ' ');
			p++;
		}
		run = p;
	}
	put(w, run, (size_t)(p - run));
}

void
jsonw_raw(struct jsonw *w, const char *json, size_t len)
{
	if (w->err.code != ERR_OK)
		return;
	if (json == NULL || len == 0) {
		jsonw_misuse(w, "an empty raw value");
		return;
	}
	if (jsonw_sep(w))
		put_raw(w, json, len);
}

void
jsonw_value(struct jsonw *w, const struct json *v)
{
	const struct json *c;

	if (w->err.code != ERR_OK)
		return;
	if (v == NULL) {
		jsonw_null(w);
		return;
	}
	switch (v->type) {
	case JSON_NULL:
		jsonw_null(w);
		break;
	case JSON_FALSE:
	case JSON_TRUE:
		jsonw_bool(w, v->type == JSON_TRUE);
		break;
	case JSON_NUMBER:
		jsonw_raw(w, v->s, v->len);
		break;
	case JSON_STRING:
		jsonw_strn(w, v->s != NULL ? v->s : "", v->len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		jsonw_open(w, v->type == JSON_ARRAY ? '[' : '{');
		/* Stops at the first error, so a hand-built DOM deeper than the writer's
		 * limit does not recurse further. */
		for (c = v->head; c != NULL && w->err.code == ERR_OK; c = c->next) {
			if (v->type == JSON_OBJECT)
				jsonw_keyn(w, c->key, c->key_len);
			jsonw_value(w, c);
		}
		jsonw_close(w, v->type == JSON_ARRAY ? ']' : '}');
		break;
	default:
		jsonw_misuse(w, "a value of unknown type");
		break;
	}
}

void
jsonw_kstr(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void
jsonw_kstrn(struct jsonw *w, const char *key, const char *s, size_t len)
{
	jsonw_key(w, key);
	jsonw_strn(w, s, len);
}

void
jsonw_kint(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void
jsonw_kbool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void
jsonw_knull(struct jsonw *w, const char *key)
{
	jsonw_key(w, key);
	jsonw_null(w);
}
