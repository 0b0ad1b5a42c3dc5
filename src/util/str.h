/*
 * str.h -- borrowed byte slices and small string helpers.
 *
 * struct str points into someone else's memory and never owns it; its lifetime is
 * the lifetime of that memory (usually a request arena or a read buffer).
 */
#ifndef UTIL_STR_H
#define UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })

struct str str_from(const char *s);
bool str_eq(struct str a, const char *s);
bool str_ieq(struct str a, const char *s);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
struct str str_trim(struct str s);
/* Parses a whole slice as a decimal integer; false on junk or overflow. */
bool str_to_i64(struct str s, int64_t *out);
/* Value of one hex digit (0-9, a-f, A-F), or -1. */
int str_hexval(unsigned char c);
/* True when s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool str_utf8_valid(const char *s, size_t len);
/* Length of the longest prefix of s[0..len) that does not end inside a UTF-8 sequence. */
size_t str_utf8_safe_len(const char *s, size_t len);

#endif
