/* str.c -- slices and UTF-8 checks. */
#include "util/str.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct str
str_from(const char *s)
{
	return (struct str){ s, s ? strlen(s) : 0 };
}

bool
str_eq(struct str a, const char *s)
{
	size_t n = strlen(s);

	return a.len == n && memcmp(a.p, s, n) == 0;
}

bool
str_ieq(struct str a, const char *s)
{
	size_t n = strlen(s);

	return a.len == n && strncasecmp(a.p, s, n) == 0;
}

bool
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

struct str
str_trim(struct str s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

bool
str_to_i64(struct str s, int64_t *out)
{
	uint64_t v = 0, lim;
	size_t i = 0;
	bool neg = false;

	if (s.len == 0)
		return false;
	if (s.p[0] == '-' || s.p[0] == '+') {
		neg = s.p[0] == '-';
		i++;
	}
	if (i == s.len)
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < s.len; i++) {
		if (!isdigit((unsigned char)s.p[i]))
			return false;
		if (v > (lim - (uint64_t)(s.p[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* Returns the length of the valid sequence at s, or 0 if invalid or truncated. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

bool
str_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t
str_utf8_safe_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, back;

	/* Look back at most 3 bytes for the start of a sequence that runs past the end. */
	for (back = 1; back <= 3 && back <= len; back++) {
		i = len - back;
		if ((p[i] & 0xC0) == 0x80)
			continue;
		if (p[i] >= 0xC0) {
			size_t need = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;

			if (need > back)
				return i;
		}
		break;
	}
	return len;
}

int
str_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
