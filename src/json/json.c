/*
 * json.c -- strict RFC 8259 recursive-descent parser into an arena DOM.
 *
 * The parser makes one pass over the input. Recursion depth is bounded by
 * JSON_DEPTH_MAX (one frame per open container), so the stack use is a few KiB.
 * Every node and every string (keys, string values, number text) is copied into the
 * caller's arena, NUL-terminated, so the DOM never points into the input buffer: a
 * caller may reuse or memmove its read buffer (buf_consume) while the DOM lives on.
 * Strings are scanned once to validate them and find their end (a table lookup per
 * byte, no function calls for ASCII runs) and then copied with memcpy, or decoded when
 * they contain escapes.
 *
 * Error offsets are 0-based byte offsets into the input: the offending byte, or the
 * input length for "unexpected end of input". Every prefix of a valid document that
 * is not itself a valid document fails with "unexpected end of input".
 *
 * printf/strtod: the server never calls setlocale(), so the C locale's '.' applies.
 */
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const unsigned char *p; /* next byte to read */
	const unsigned char *start, *end;
	struct arena *a;
	struct err *e;
};

/* Bytes that end a fast run inside a string: controls, '"', '\\' and non-ASCII. */
/* clang-format off */
static const unsigned char str_stop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x20 '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,	/* 0x50 '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x70 */
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

static struct json *parse_value(struct parser *ps, int depth);

/* Sets "invalid JSON at byte N: reason" and returns NULL, so callers can
 * `return parse_fail(...)`. */
static struct json *
parse_fail(struct parser *ps, const unsigned char *at, const char *reason)
{
	err_set(ps->e, ERR_INVAL, "invalid JSON at byte %zu: %s", (size_t)(at - ps->start), reason);
	return NULL;
}

/* The byte at `at` (or the end of input) was not what the grammar allows. */
static struct json *
parse_unexpected(struct parser *ps, const unsigned char *at)
{
	char reason[40];

	if (at >= ps->end)
		return parse_fail(ps, ps->end, "unexpected end of input");
	if (*at >= 0x20 && *at < 0x7F)
		snprintf(reason, sizeof(reason), "unexpected character '%c'", *at);
	else
		snprintf(reason, sizeof(reason), "unexpected byte 0x%02x", *at);
	return parse_fail(ps, at, reason);
}

static struct json *
parse_toobig(struct parser *ps)
{
	err_set(ps->e, ERR_TOOBIG, "JSON document too large: memory limit reached at byte %zu",
	    (size_t)(ps->p - ps->start));
	return NULL;
}

static struct json *
node_new(struct parser *ps, enum json_type type)
{
	struct json *n = arena_alloc(ps->a, sizeof(*n));

	if (n == NULL)
		return parse_toobig(ps);
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

static void
skip_ws(struct parser *ps)
{
	const unsigned char *p = ps->p, *end = ps->end;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->p = p;
}

static int
hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads the 4 hex digits at q into *cp; false (error set) on a bad digit or the end. */
static bool
scan_hex4(struct parser *ps, const unsigned char *q, unsigned *cp)
{
	int i, h;

	*cp = 0;
	for (i = 0; i < 4; i++) {
		if (q + i >= ps->end)
			return parse_unexpected(ps, ps->end), false;
		h = hex_val(q[i]);
		if (h < 0)
			return parse_fail(ps, q + i, "invalid escape"), false;
		*cp = *cp << 4 | (unsigned)h;
	}
	return true;
}

/* Validates the escape at *qp (a backslash) and moves *qp past it. A high surrogate
 * must be followed at once by an escaped low surrogate (RFC 8259 §7). */
static bool
scan_escape(struct parser *ps, const unsigned char **qp)
{
	const unsigned char *bs = *qp, *q = bs + 1;
	unsigned cp, lo;

	if (q >= ps->end)
		return parse_unexpected(ps, q), false;
	switch (*q) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		*qp = q + 1;
		return true;
	case 'u':
		break;
	default:
		return parse_fail(ps, q, "invalid escape"), false;
	}
	if (!scan_hex4(ps, q + 1, &cp))
		return false;
	q += 5;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return parse_fail(ps, bs, "lone surrogate"), false;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (q >= ps->end || (q[0] == '\\' && q + 1 >= ps->end))
			return parse_unexpected(ps, ps->end), false;
		if (q[0] != '\\' || q[1] != 'u')
			return parse_fail(ps, bs, "lone surrogate"), false;
		if (!scan_hex4(ps, q + 2, &lo))
			return false;
		if (lo < 0xDC00 || lo > 0xDFFF)
			return parse_fail(ps, bs, "lone surrogate"), false;
		q += 6;
	}
	*qp = q;
	return true;
}

/* Length of the well-formed UTF-8 sequence at q (lead byte >= 0x80), or 0 with the
 * error set. Bounds per Unicode Table 3-7: no overlongs, surrogates or > U+10FFFF.
 * A sequence cut short by the end of input is "unexpected end of input". */
static size_t
scan_utf8(struct parser *ps, const unsigned char *q)
{
	unsigned c = q[0], lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c < 0xC2 || c > 0xF4)
		return parse_fail(ps, q, "invalid UTF-8"), 0;
	if (c < 0xE0) {
		n = 2;
	} else if (c < 0xF0) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	for (i = 1; i < n; i++) {
		if (q + i >= ps->end)
			return parse_unexpected(ps, ps->end), 0;
		if (q[i] < lo || q[i] > hi) {
			if (i == 1 && c == 0xED && q[1] >= 0xA0 && q[1] <= 0xBF)
				return parse_fail(ps, q, "lone surrogate"), 0;
			return parse_fail(ps, q, "invalid UTF-8"), 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return n;
}

static unsigned char *
put_utf8(unsigned char *d, unsigned cp)
{
	if (cp < 0x80) {
		*d++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*d++ = (unsigned char)(0xC0 | cp >> 6);
		*d++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*d++ = (unsigned char)(0xE0 | cp >> 12);
		*d++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		*d++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		*d++ = (unsigned char)(0xF0 | cp >> 18);
		*d++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		*d++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		*d++ = (unsigned char)(0x80 | (cp & 0x3F));
	}
	return d;
}

static unsigned
hex4(const unsigned char *q)
{
	return (unsigned)(hex_val(q[0]) << 12 | hex_val(q[1]) << 8 | hex_val(q[2]) << 4 |
	    hex_val(q[3]));
}

/* Decodes src[0..n), whose escapes scan_string already validated, into d; returns
 * the decoded length. Decoding never grows the text, so d needs n bytes at most. */
static size_t
decode_escapes(unsigned char *d, const unsigned char *src, size_t n)
{
	const unsigned char *end = src + n, *bs;
	unsigned char *d0 = d;
	unsigned cp;

	while (src < end) {
		bs = memchr(src, '\\', (size_t)(end - src));
		if (bs == NULL)
			bs = end;
		memcpy(d, src, (size_t)(bs - src));
		d += bs - src;
		if (bs == end)
			break;
		switch (bs[1]) {
		case 'b':
			*d++ = '\b';
			break;
		case 'f':
			*d++ = '\f';
			break;
		case 'n':
			*d++ = '\n';
			break;
		case 'r':
			*d++ = '\r';
			break;
		case 't':
			*d++ = '\t';
			break;
		case 'u':
			cp = hex4(bs + 2);
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(bs + 8) - 0xDC00);
				bs += 6;
			}
			d = put_utf8(d, cp);
			src = bs + 6;
			continue;
		default:
			*d++ = bs[1];
			break; /* '"', '\\', '/' */
		}
		src = bs + 2;
	}
	return (size_t)(d - d0);
}

/* Parses the string whose opening quote is at ps->p into a NUL-terminated arena copy. */
static bool
parse_string(struct parser *ps, const char **out, size_t *outlen)
{
	const unsigned char *s0 = ps->p + 1, *q = s0, *end = ps->end;
	bool esc = false;
	unsigned char *d;
	size_t n, raw;

	for (;;) {
		while (q < end && !str_stop[*q])
			q++;
		if (q >= end)
			return parse_unexpected(ps, end), false;
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (!scan_escape(ps, &q))
				return false;
			esc = true;
		} else if (*q < 0x20) {
			return parse_fail(ps, q, "control character in string"), false;
		} else {
			n = scan_utf8(ps, q);
			if (n == 0)
				return false;
			q += n;
		}
	}
	raw = (size_t)(q - s0);
	d = arena_alloc(ps->a, raw + 1);
	if (d == NULL)
		return parse_toobig(ps), false;
	if (esc) {
		n = decode_escapes(d, s0, raw);
	} else {
		memcpy(d, s0, raw);
		n = raw;
	}
	d[n] = '\0';
	*out = (const char *)d;
	*outlen = n;
	ps->p = q + 1;
	return true;
}

static struct json *
parse_number(struct parser *ps)
{
	const unsigned char *q = ps->p, *end = ps->end;
	struct json *v;
	char *text;

	if (*q == '-')
		q++;
	if (q >= end)
		return parse_unexpected(ps, q);
	if (*q == '0') {
		q++;
		if (q < end && *q >= '0' && *q <= '9')
			return parse_fail(ps, q - 1, "leading zero");
	} else if (*q >= '1' && *q <= '9') {
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return parse_unexpected(ps, q);
	}
	if (q < end && *q == '.') {
		q++;
		if (q >= end || *q < '0' || *q > '9')
			return parse_unexpected(ps, q);
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || *q < '0' || *q > '9')
			return parse_unexpected(ps, q);
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	v = node_new(ps, JSON_NUMBER);
	if (v == NULL)
		return NULL;
	text = arena_strndup(ps->a, (const char *)ps->p, (size_t)(q - ps->p));
	if (text == NULL)
		return parse_toobig(ps);
	v->s = text;
	v->len = (size_t)(q - ps->p);
	ps->p = q;
	return v;
}

static struct json *
parse_literal(struct parser *ps, const char *word, enum json_type type)
{
	const unsigned char *q = ps->p;
	size_t i;

	for (i = 1; word[i] != '\0'; i++) {
		if (q + i >= ps->end || q[i] != (unsigned char)word[i])
			return parse_unexpected(ps, q + i);
	}
	ps->p = q + i;
	return node_new(ps, type);
}

/* Parses the rest of an array or object after its opening bracket. Members of an
 * object are "key": value pairs whose key lands in the child node. */
static struct json *
parse_container(struct parser *ps, int depth, enum json_type type)
{
	unsigned char close = type == JSON_ARRAY ? ']' : '}';
	struct json *c, *v, **tail;
	const char *key = NULL;
	size_t key_len = 0;

	_Static_assert(JSON_DEPTH_MAX == 128, "the message below names the limit");
	if (depth > JSON_DEPTH_MAX)
		return parse_fail(ps, ps->p, "nesting deeper than 128");
	c = node_new(ps, type);
	if (c == NULL)
		return NULL;
	tail = &c->head;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return c;
	}
	for (;;) {
		if (type == JSON_OBJECT) {
			if (ps->p >= ps->end || *ps->p != '"')
				return parse_unexpected(ps, ps->p);
			if (!parse_string(ps, &key, &key_len))
				return NULL;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return parse_unexpected(ps, ps->p);
			ps->p++;
		}
		v = parse_value(ps, depth);
		if (v == NULL)
			return NULL;
		v->key = key;
		v->key_len = key_len;
		*tail = v;
		tail = &v->next;
		c->count++;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return parse_unexpected(ps, ps->p);
		if (*ps->p == close) {
			ps->p++;
			return c;
		}
		if (*ps->p != ',')
			return parse_unexpected(ps, ps->p);
		ps->p++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == close)
			return parse_fail(ps, ps->p, "trailing comma");
	}
}

/* depth counts the containers already open around this value. */
static struct json *
parse_value(struct parser *ps, int depth)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return parse_unexpected(ps, ps->p);
	switch (*ps->p) {
	case '{':
		return parse_container(ps, depth + 1, JSON_OBJECT);
	case '[':
		return parse_container(ps, depth + 1, JSON_ARRAY);
	case '"': {
		struct json *v = node_new(ps, JSON_STRING);

		if (v == NULL || !parse_string(ps, &v->s, &v->len))
			return NULL;
		return v;
	}
	case 't':
		return parse_literal(ps, "true", JSON_TRUE);
	case 'f':
		return parse_literal(ps, "false", JSON_FALSE);
	case 'n':
		return parse_literal(ps, "null", JSON_NULL);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		return parse_number(ps);
	default:
		return parse_unexpected(ps, ps->p);
	}
}

struct json *
json_parse(const char *buf, size_t len, struct arena *a, struct err *e)
{
	static const char empty[1];
	struct parser ps;
	struct json *v;

	if (buf == NULL)
		buf = empty;
	ps.start = ps.p = (const unsigned char *)buf;
	ps.end = ps.start + len;
	ps.a = a;
	ps.e = e;
	v = parse_value(&ps, 0);
	if (v == NULL)
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end)
		return parse_fail(&ps, ps.p, "trailing characters after value");
	return v;
}

/* Names ------------------------------------------------------------------------- */

#define NAMES_PATH_MAX 160 /* "params.arguments.env" and such; longer paths end in "..." */
#define NAMES_SORT_MIN 9   /* objects this large are checked by sorting, smaller pairwise */

static int
name_cmp(const void *x, const void *y)
{
	const struct json *a = *(const struct json *const *)x, *b = *(const struct json *const *)y;

	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return memcmp(a->key, b->key, a->key_len);
}

static bool
name_eq(const struct json *a, const struct json *b)
{
	return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* The first duplicate name among obj's members, or NULL; *oom when the arena is full. */
static const struct json *
names_dup(const struct json *obj, struct arena *a, bool *oom)
{
	const struct json **v, *x, *y;
	size_t i = 0;

	if (obj->count < NAMES_SORT_MIN) {
		for (x = obj->head; x != NULL; x = x->next)
			for (y = x->next; y != NULL; y = y->next)
				if (name_eq(x, y))
					return x;
		return NULL;
	}
	v = arena_alloc(a, obj->count * sizeof(*v));
	if (v == NULL) {
		*oom = true;
		return NULL;
	}
	for (x = obj->head; x != NULL && i < obj->count; x = x->next)
		v[i++] = x;
	qsort(v, i, sizeof(*v), name_cmp);
	for (size_t k = 1; k < i; k++)
		if (name_eq(v[k - 1], v[k]))
			return v[k];
	return NULL;
}

/* Appends ".key" or "[i]" to path (which holds len bytes); returns the new length. */
static size_t
names_path_add(char *path, size_t len, const struct json *child, size_t index)
{
	int n;

	if (len >= NAMES_PATH_MAX - 4)
		return len;
	if (child->key != NULL)
		n = snprintf(path + len, NAMES_PATH_MAX - len, "%s%.*s", len ? "." : "",
		    (int)(child->key_len < 40 ? child->key_len : 40), child->key);
	else
		n = snprintf(path + len, NAMES_PATH_MAX - len, "[%zu]", index);
	if (n < 0 || (size_t)n >= NAMES_PATH_MAX - len) {
		memcpy(path + NAMES_PATH_MAX - 4, "...", 4);
		return NAMES_PATH_MAX - 1;
	}
	return len + (size_t)n;
}

static int
names_walk(const struct json *v, char *path, size_t len, struct arena *a, struct err *e)
{
	const char *where = len ? path : "the top-level object";
	const struct json *c, *dup;
	bool oom = false;
	size_t i = 0;

	if (v->type != JSON_OBJECT && v->type != JSON_ARRAY)
		return 0;
	if (v->type == JSON_OBJECT) {
		for (c = v->head; c != NULL; c = c->next) {
			if (memchr(c->key, '\0', c->key_len) != NULL)
				return err_set(e, ERR_INVAL,
				    "member name \"%.40s\" in %s contains "
				    "U+0000",
				    c->key, where);
		}
		dup = names_dup(v, a, &oom);
		if (oom)
			return err_set(e, ERR_TOOBIG,
			    "JSON document too large: no memory left to "
			    "check its member names");
		if (dup != NULL)
			return err_set(e, ERR_INVAL, "duplicate member name \"%.*s\" in %s",
			    (int)(dup->key_len < 64 ? dup->key_len : 64), dup->key, where);
	}
	for (c = v->head; c != NULL; c = c->next, i++) {
		if (c->type != JSON_OBJECT && c->type != JSON_ARRAY)
			continue;
		if (names_walk(c, path, names_path_add(path, len, c, i), a, e) != 0)
			return e->code;
		path[len] = '\0';
	}
	return 0;
}

int
json_check_names(const struct json *v, struct arena *a, struct err *e)
{
	char path[NAMES_PATH_MAX];

	path[0] = '\0';
	return v == NULL ? 0 : names_walk(v, path, 0, a, e);
}

const struct json *
json_get(const struct json *obj, const char *key)
{
	const struct json *c;
	size_t n;

	if (obj == NULL || obj->type != JSON_OBJECT || key == NULL)
		return NULL;
	n = strlen(key);
	for (c = obj->head; c != NULL; c = c->next) {
		if (c->key_len == n && memcmp(c->key, key, n) == 0)
			return c;
	}
	return NULL;
}

const char *
json_get_str(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);

	return v != NULL && v->type == JSON_STRING ? v->s : NULL;
}

const struct json *
json_at(const struct json *arr, size_t i)
{
	const struct json *c;

	if (arr == NULL || arr->type != JSON_ARRAY || i >= arr->count)
		return NULL;
	for (c = arr->head; c != NULL && i > 0; c = c->next)
		i--;
	return c;
}

/*
 * The value is exactly M * 10^(exp - F), where M is the mantissa digits (integer and
 * fraction part run together) and F the number of fraction digits. Dropping M's
 * leading and trailing zeros leaves D * 10^adj; the number is an int64 when adj >= 0
 * and D * 10^adj fits. So "1e3", "10.0", "1.5e1", "-0" and "0.0e-7" are integers and
 * "1.5", "1e-1" and "1e19" are not. The text is re-checked, not trusted.
 */
bool
json_int(const struct json *v, int64_t *out)
{
	const char *s, *end, *mant, *mant_end;
	const char *first = NULL, *last = NULL;
	int64_t exp = 0, adj, frac = 0, after_last = 0, expsign = 1;
	uint64_t acc = 0, limit;
	bool neg = false, in_frac = false;

	if (v == NULL || v->type != JSON_NUMBER || v->s == NULL || v->len == 0)
		return false;
	s = v->s;
	end = s + v->len;
	if (*s == '-') {
		neg = true;
		s++;
	}
	mant = s;
	for (; s < end && ((*s >= '0' && *s <= '9') || *s == '.'); s++) {
		if (*s == '.') {
			if (in_frac)
				return false;
			in_frac = true;
			continue;
		}
		frac += in_frac;
		if (*s != '0') {
			if (first == NULL)
				first = s;
			last = s;
			after_last = 0;
		} else {
			after_last++;
		}
	}
	mant_end = s;
	if (mant_end == mant)
		return false;
	if (s < end && (*s == 'e' || *s == 'E')) {
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			expsign = *s++ == '-' ? -1 : 1;
		if (s >= end)
			return false;
		for (; s < end && *s >= '0' && *s <= '9'; s++) {
			if (exp < 1000000000)
				exp = exp * 10 + (*s - '0');
		}
	}
	if (s != end)
		return false;
	if (first == NULL) {
		*out = 0;
		return true;
	}
	/* Trailing zeros of M are absorbed into the exponent. */
	adj = expsign * exp - frac + after_last;
	if (adj < 0 || adj > 18)
		return false;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (s = first; s <= last; s++) {
		if (*s == '.')
			continue;
		if (acc > (limit - (uint64_t)(*s - '0')) / 10)
			return false;
		acc = acc * 10 + (uint64_t)(*s - '0');
	}
	for (; adj > 0; adj--) {
		if (acc > limit / 10)
			return false;
		acc *= 10;
	}
	if (neg)
		*out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
	else
		*out = (int64_t)acc;
	return true;
}

bool
json_double(const struct json *v, double *out)
{
	if (v == NULL || v->type != JSON_NUMBER || v->s == NULL)
		return false;
	/* The parser stores number text NUL-terminated, so strtod can read it in place;
	 * out-of-range values become +-HUGE_VAL or 0, as strtod rounds them. */
	*out = strtod(v->s, NULL);
	return true;
}

bool
json_is_bool(const struct json *v)
{
	return v != NULL && (v->type == JSON_TRUE || v->type == JSON_FALSE);
}

bool
json_truthy(const struct json *v)
{
	return v != NULL && v->type == JSON_TRUE;
}

const char *
json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL:
		return "null";
	case JSON_FALSE:
	case JSON_TRUE:
		return "boolean";
	case JSON_NUMBER:
		return "number";
	case JSON_STRING:
		return "string";
	case JSON_ARRAY:
		return "array";
	case JSON_OBJECT:
		return "object";
	}
	return "unknown";
}
