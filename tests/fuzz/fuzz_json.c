/*
 * fuzz_json.c -- libFuzzer target for json.h and jsonw.h.
 *
 * For every input:
 *  - a rejection must be ERR_INVAL "invalid JSON at byte N: ..." with N <= size, and
 *    "unexpected end of input" only at N == size;
 *  - an accepted document is written with jsonw_value; the output must be one line of
 *    valid UTF-8 with no control bytes, must parse again to an equal DOM, and writing
 *    that DOM again must give the same bytes;
 *  - the document minus its last byte must either parse or fail with "unexpected end
 *    of input" at its end (every prefix of a valid document is incomplete, not wrong);
 *  - json_int and json_double agree on integers that a double holds exactly;
 *  - json_check_names agrees with a pairwise search for duplicate or NUL member names.
 * Any violation aborts, which libFuzzer and the replayer report as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"

#define FUZZ_ARENA_MAX (256u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_json: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static int
json_equal(const struct json *a, const struct json *b)
{
	const struct json *x, *y;

	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JSON_NUMBER:
	case JSON_STRING:
		return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (a->count != b->count)
			return 0;
		for (x = a->head, y = b->head; x != NULL && y != NULL; x = x->next, y = y->next) {
			if (a->type == JSON_OBJECT &&
			    (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0))
				return 0;
			if (!json_equal(x, y))
				return 0;
		}
		return x == NULL && y == NULL;
	default:
		return 1;
	}
}

/* Checks json_int against json_double on every number in the tree. */
static void
check_numbers(const struct json *v)
{
	const struct json *c;
	int64_t iv;
	double d;

	if (v->type == JSON_NUMBER) {
		if (!json_double(v, &d))
			fail("json_double refused a number", v->s);
		if (json_int(v, &iv) && iv > -(INT64_C(1) << 53) && iv < (INT64_C(1) << 53) &&
		    d != (double)iv)
			fail("json_int and json_double disagree", v->s);
		return;
	}
	for (c = v->head; c != NULL; c = c->next)
		check_numbers(c);
}

/* True when some object in v has two equal member names or a name with a NUL. */
static int
names_bad(const struct json *v)
{
	const struct json *x, *y;

	for (x = v->head; x != NULL; x = x->next) {
		if (v->type == JSON_OBJECT) {
			if (memchr(x->key, '\0', x->key_len) != NULL)
				return 1;
			for (y = x->next; y != NULL; y = y->next)
				if (x->key_len == y->key_len &&
				    memcmp(x->key, y->key, x->key_len) == 0)
					return 1;
		}
		if (names_bad(x))
			return 1;
	}
	return 0;
}

static void
check_names(const struct json *v, struct arena *a)
{
	struct err e = { 0 };
	int rc = json_check_names(v, a, &e);

	if (rc == ERR_TOOBIG)
		return;
	if (rc != 0 &&
	    (rc != ERR_INVAL ||
	        (strstr(e.msg, "duplicate member name") == NULL &&
	            strstr(e.msg, "U+0000") == NULL)))
		fail("bad json_check_names error", e.msg);
	if ((rc != 0) != names_bad(v))
		fail("json_check_names disagrees with the pairwise search", e.msg);
}

static void
check_error(const struct err *e, size_t size)
{
	char *endp;
	unsigned long long off;

	if (e->code == ERR_TOOBIG)
		return;
	if (e->code != ERR_INVAL || strncmp(e->msg, "invalid JSON at byte ", 21) != 0)
		fail("bad error", e->msg);
	off = strtoull(e->msg + 21, &endp, 10);
	if (endp == e->msg + 21 || off > size || strncmp(endp, ": ", 2) != 0)
		fail("bad error offset", e->msg);
	if (strstr(endp, "unexpected end of input") != NULL && off != size)
		fail("end of input reported before the end", e->msg);
}

static char *
write_dom(const struct json *v, size_t *n)
{
	struct buf b;
	struct jsonw w;

	buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_value(&w, v);
	if (jsonw_error(&w))
		fail("jsonw_value failed", w.err.msg);
	*n = b.len;
	return buf_steal(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a1, *a2, *a3;
	struct err e = { 0 };
	struct json *v1, *v2;
	char *w1, *w2, *in;
	size_t n1, n2, i;

	/* A private copy of exactly size bytes, so ASan sees any over-read. */
	in = malloc(size ? size : 1);
	if (size)
		memcpy(in, data, size);
	a1 = arena_new(FUZZ_ARENA_MAX);
	v1 = json_parse(in, size, a1, &e);
	if (v1 == NULL) {
		check_error(&e, size);
		goto out;
	}
	check_numbers(v1);
	check_names(v1, a1);

	w1 = write_dom(v1, &n1);
	for (i = 0; i < n1; i++) {
		if ((unsigned char)w1[i] < 0x20)
			fail("control byte in writer output", w1);
	}
	if (!str_utf8_valid(w1, n1))
		fail("writer output is not valid UTF-8", NULL);
	a2 = arena_new(FUZZ_ARENA_MAX);
	err_clear(&e);
	v2 = json_parse(w1, n1, a2, &e);
	if (v2 == NULL)
		fail("writer output does not parse", e.msg);
	if (!json_equal(v1, v2))
		fail("re-parsed document differs", w1);
	w2 = write_dom(v2, &n2);
	if (n1 != n2 || memcmp(w1, w2, n1) != 0)
		fail("second write differs", w2);
	free(w1);
	free(w2);
	arena_free(a2);

	/* The valid document without its last byte is valid or merely incomplete. */
	if (size > 0) {
		a3 = arena_new(FUZZ_ARENA_MAX);
		err_clear(&e);
		if (json_parse(in, size - 1, a3, &e) == NULL &&
		    (e.code != ERR_INVAL || strstr(e.msg, "unexpected end of input") == NULL))
			fail("a prefix of a valid document is reported as wrong", e.msg);
		if (e.code != ERR_OK)
			check_error(&e, size - 1);
		arena_free(a3);
	}
out:
	arena_free(a1);
	free(in);
	return 0;
}
