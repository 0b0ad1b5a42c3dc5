/*
 * json.h -- strict RFC 8259 parser into an arena DOM, and lookup helpers.
 *
 * Owns:    nothing; every node and decoded string lives in the caller's arena and dies with it.
 * Accepts: exactly one JSON value, optional surrounding whitespace (RFC 8259 §2).
 * Rejects: trailing commas, comments, single quotes, bad escapes, invalid UTF-8, lone
 *          surrogates (escaped or raw), leading zeros, control characters in strings,
 *          NaN/Infinity, nesting deeper than JSON_DEPTH_MAX, trailing garbage.
 * Numbers: keep their source text (s/len), so 64-bit integers survive; helpers convert.
 * Strings: decoded to UTF-8 in s/len and NUL-terminated (may contain \u0000 -> NUL byte).
 * Objects: members keep document order; duplicate keys are kept, lookup finds the first.
 *          json_check_names() finds them (and NULs in names) for callers that must not
 *          guess: RFC 8259 §4 leaves duplicate names to each parser, and parsers differ.
 * Errors:  json_parse returns NULL and sets e (ERR_INVAL, or ERR_TOOBIG when the arena
 *          is full) with "invalid JSON at byte N: <reason>".
 * Threads: a DOM is immutable after parsing and may be read from any thread.
 */
#ifndef JSON_JSON_H
#define JSON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

#define JSON_DEPTH_MAX 128

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type type;
	const char *key; /* member name when the parent is an object, else NULL */
	size_t key_len;
	const char *s; /* STRING: decoded UTF-8, NUL-terminated; NUMBER: source text */
	size_t len;
	struct json *head; /* ARRAY/OBJECT: first child */
	struct json *next; /* next sibling */
	size_t count;      /* ARRAY/OBJECT: number of children */
};

struct json *json_parse(const char *buf, size_t len, struct arena *a, struct err *e);

/* Checks every object in v: no two members share a name, and no name holds U+0000 (a
 * parser that stops at NUL would read another name). Returns 0, ERR_INVAL with a sentence
 * naming the member and where it is ("duplicate member name \"id\" in params.arguments"),
 * or ERR_TOOBIG when a is too full for the scratch index. O(n log n) per object, and the
 * scratch is at most a pointer per member name. */
int json_check_names(const struct json *v, struct arena *a, struct err *e);

/* Object member by name (first match), NULL when obj is not an object or has no such key. */
const struct json *json_get(const struct json *obj, const char *key);
/* String member, NULL when absent or not a string. */
const char *json_get_str(const struct json *obj, const char *key);
/* Array element i, NULL when out of range or not an array. */
const struct json *json_at(const struct json *arr, size_t i);

/* A number that is an integer in int64 range (no fraction/exponent, or an exponent form
 * that is still integral such as 1e3); false otherwise. */
bool json_int(const struct json *v, int64_t *out);
/* Any number as a double; false when v is not a number. */
bool json_double(const struct json *v, double *out);
bool json_is_bool(const struct json *v);
bool json_truthy(const struct json *v); /* JSON_TRUE only */
/* "null", "boolean", "number", "string", "array", "object" */
const char *json_type_name(enum json_type t);

#endif
