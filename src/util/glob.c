/* glob.c -- shell-style matching of slash-separated paths, with `**`. */
#include "util/glob.h"

/* Bounds the backtracking of hostile patterns such as "*a*a*a*a*b". */
#define GLOB_BUDGET 100000

static bool
glob_rec(const char *p, const char *s, int *budget)
{
	if (--*budget < 0)
		return false;
	while (*p != '\0') {
		if (p[0] == '*' && p[1] == '*') {
			while (*p == '*')
				p++;
			if (*p == '/') {
				p++;
				if (glob_rec(p, s, budget))
					return true;
				for (; *s != '\0'; s++)
					if (*s == '/' && glob_rec(p, s + 1, budget))
						return true;
				return false;
			}
			for (;; s++) {
				if (glob_rec(p, s, budget))
					return true;
				if (*s == '\0')
					return false;
			}
		}
		if (*p == '*') {
			p++;
			for (;; s++) {
				if (glob_rec(p, s, budget))
					return true;
				if (*s == '\0' || *s == '/')
					return false;
			}
		}
		if (*s == '\0')
			return false;
		if (*p == '?') {
			if (*s == '/')
				return false;
			p++;
			s++;
			continue;
		}
		if (*p == '[') {
			const char *q = p + 1, *start;
			bool neg = false, hit = false;

			if (*q == '!' || *q == '^') {
				neg = true;
				q++;
			}
			start = q;
			while (*q != '\0' && (*q != ']' || q == start)) {
				unsigned char lo = (unsigned char)*q, hi = lo;

				if (q[1] == '-' && q[2] != '\0' && q[2] != ']') {
					hi = (unsigned char)q[2];
					q += 3;
				} else {
					q++;
				}
				if ((unsigned char)*s >= lo && (unsigned char)*s <= hi)
					hit = true;
			}
			if (*q == ']') {
				if (*s == '/' || hit == neg)
					return false;
				p = q + 1;
				s++;
				continue;
			}
			/* no closing bracket: a literal '[' */
		}
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *s == '\0';
}

bool
glob_match(const char *pattern, const char *s)
{
	int budget = GLOB_BUDGET;

	return glob_rec(pattern, s, &budget);
}
