/*
 * jsonw.h -- streaming JSON writer into a struct buf; output is one line of valid UTF-8.
 *
 * Owns:    nothing; appends to the caller's struct buf.
 * Output:  compact JSON, no newlines: strings escape '"', '\\', and all control bytes
 *          (\n \r \t \b \f, others as \u00XX); also U+2028/U+2029 as \u2028/\u2029.
 *          Invalid UTF-8 in input bytes becomes U+FFFD, so the output is always valid.
 * Commas:  inserted automatically; jsonw_key() must precede each value inside an object.
 * Errors:  the first buffer failure (ERR_TOOBIG from a capped buf) sticks in w->err and
 *          later calls do nothing; check jsonw_error() once at the end (BearSSL style).
 * Nesting: at most JSONW_DEPTH_MAX levels; deeper is a sticky ERR_INVAL.
 */
#ifndef JSON_JSONW_H
#define JSON_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "util/buf.h"
#include "util/err.h"

#define JSONW_DEPTH_MAX 128

struct jsonw {
	struct buf *b;
	int depth;
	bool first[JSONW_DEPTH_MAX + 1]; /* no value written yet at this level */
	bool after_key;
	struct err err;
};

void jsonw_init(struct jsonw *w, struct buf *b);
void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_keyn(struct jsonw *w, const char *key, size_t len);
void jsonw_str(struct jsonw *w, const char *s); /* NULL writes null */
void jsonw_strn(struct jsonw *w, const char *s, size_t len);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_double(struct jsonw *w, double v); /* non-finite writes null */
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Inserts already-serialized JSON text as one value; the caller vouches it is valid.
 * The line promise still holds: control bytes (tab too) become spaces and invalid
 * UTF-8 becomes U+FFFD (neither can change the meaning of valid JSON). */
void jsonw_raw(struct jsonw *w, const char *json, size_t len);
/* Serializes a parsed DOM value (numbers keep their source text). */
void jsonw_value(struct jsonw *w, const struct json *v);

/* Key + value shorthands for objects. */
void jsonw_kstr(struct jsonw *w, const char *key, const char *s);
void jsonw_kstrn(struct jsonw *w, const char *key, const char *s, size_t len);
void jsonw_kint(struct jsonw *w, const char *key, int64_t v);
void jsonw_kbool(struct jsonw *w, const char *key, bool v);
void jsonw_knull(struct jsonw *w, const char *key);

/* 0, or the sticky error code (message in w->err.msg). */
int jsonw_error(const struct jsonw *w);

#endif
