/*
 * tap.h -- a tiny TAP harness for unit tests (picotest / redis testhelp style).
 *
 * ok(cond, fmt, ...) prints "ok N - desc" or "not ok N - desc" and returns cond;
 * is_int/is_str print what differed; note() prints a "# " diagnostic line;
 * done_testing() prints the plan "1..N" and returns the process exit status
 * (0 when nothing failed). Output goes to stdout; tests/run.sh counts the lines.
 */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int __attribute__((format(printf, 2, 3))) ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

static inline void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define is_int(got, want, ...)                                                             \
	do {                                                                               \
		long long g_ = (long long)(got), w_ = (long long)(want);                   \
		if (!ok(g_ == w_, __VA_ARGS__))                                            \
			note("  got %lld, want %lld (%s:%d)", g_, w_, __FILE__, __LINE__); \
	} while (0)

#define is_str(got, want, ...)                                                         \
	do {                                                                           \
		const char *g_ = (got), *w_ = (want);                                  \
		if (!ok(g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__)) \
			note("  got \"%s\", want \"%s\" (%s:%d)", g_ ? g_ : "(null)",  \
			    w_ ? w_ : "(null)", __FILE__, __LINE__);                   \
	} while (0)

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
