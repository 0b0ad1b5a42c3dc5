/*
 * bench_json.c -- JSON parse (and write) throughput on a generated ~50 MB document of
 * numbers only: one array of integers, decimals, exponents and 19-digit integers.
 *
 * Prints numbers, never fails on speed (DESIGN.md "Benchmarks print numbers"). Exits
 * non-zero only if the document does not parse, which would be a bug, not slowness.
 * BENCH_JSON_MB (default 50) and BENCH_JSON_RUNS (default 5) override the size and runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* User-space CPU seconds: the parser's own work, without the kernel's page faults. */
static double
user_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
next_rand(void)
{
	/* xorshift64 */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Appends one number of a randomly chosen shape; returns its length. */
static int
gen_number(char *out, size_t cap)
{
	uint64_t r = next_rand();
	const char *sign = (r >> 8) & 1 ? "-" : "";

	switch (r % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
		return snprintf(out, cap, "%s%llu", sign,
		    (unsigned long long)(next_rand() % 10000000000ULL));
	case 4:
	case 5:
	case 6:
		return snprintf(out, cap, "%s%llu.%04llu", sign,
		    (unsigned long long)(next_rand() % 100000),
		    (unsigned long long)(next_rand() % 10000));
	case 7:
	case 8:
		return snprintf(out, cap, "%s%llu.%08llue%s%d", sign,
		    (unsigned long long)(next_rand() % 9 + 1),
		    (unsigned long long)(next_rand() % 100000000), (r >> 9) & 1 ? "-" : "+",
		    (int)(next_rand() % 308));
	default:
		return snprintf(out, cap, "%s%llu", sign,
		    (unsigned long long)(next_rand() % 9000000000000000000ULL +
		        1000000000000000000ULL));
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(void)
{
	const char *mb_env = getenv("BENCH_JSON_MB"), *runs_env = getenv("BENCH_JSON_RUNS");
	size_t target = (size_t)(mb_env ? atof(mb_env) : 50.0) * 1000 * 1000;
	int runs = runs_env ? atoi(runs_env) : 5, i;
	size_t count = 0, used = 0, cap = target + 64;
	char *doc = malloc(cap), *p = doc;
	double *parse_s, *parse_cpu, *write_s, t, c;
	struct buf out;

	if (runs < 1)
		runs = 1;
	parse_s = calloc((size_t)runs, sizeof(*parse_s));
	parse_cpu = calloc((size_t)runs, sizeof(*parse_cpu));
	write_s = calloc((size_t)runs, sizeof(*write_s));
	if (doc == NULL || parse_s == NULL || parse_cpu == NULL || write_s == NULL) {
		fprintf(stderr, "bench_json: out of memory\n");
		return 1;
	}
	*p++ = '[';
	while ((size_t)(p - doc) + 48 < target) {
		if (count++ > 0)
			*p++ = ',';
		p += gen_number(p, cap - (size_t)(p - doc));
	}
	*p++ = ']';

	buf_init(&out, 0);
	for (i = 0; i < runs; i++) {
		struct arena *a = arena_new((size_t)4 << 30);
		struct err e = { 0 };
		struct json *v;
		struct jsonw w;

		c = user_s();
		t = now_s();
		v = json_parse(doc, (size_t)(p - doc), a, &e);
		parse_s[i] = now_s() - t;
		parse_cpu[i] = user_s() - c;
		if (v == NULL || v->count != count) {
			fprintf(stderr, "bench_json: the generated document did not parse: %s\n",
			    e.msg);
			return 1;
		}
		used = arena_used(a);
		buf_reset(&out);
		jsonw_init(&w, &out);
		t = now_s();
		jsonw_value(&w, v);
		write_s[i] = now_s() - t;
		if (jsonw_error(&w) || out.len != (size_t)(p - doc)) {
			fprintf(stderr, "bench_json: writing the document back failed\n");
			return 1;
		}
		arena_free(a);
	}
	qsort(parse_s, (size_t)runs, sizeof(*parse_s), cmp_double);
	qsort(parse_cpu, (size_t)runs, sizeof(*parse_cpu), cmp_double);
	qsort(write_s, (size_t)runs, sizeof(*write_s), cmp_double);
	t = (double)(p - doc) / 1e6;
	printf("bench_json: %.1f MB document of %zu numbers, %d runs\n", t, count, runs);
	printf("bench_json: parse  best %.0f MB/s, median %.0f MB/s (%.0f ns/number); "
	       "arena %.0f MB (%.1f bytes/input byte)\n",
	    t / parse_s[0], t / parse_s[runs / 2], parse_s[runs / 2] * 1e9 / (double)count,
	    (double)used / 1e6, (double)used / (double)(p - doc));
	printf("bench_json: parse  user CPU only: best %.0f MB/s, median %.0f MB/s (wall time adds "
	       "page faults for the arena and other processes)\n",
	    t / parse_cpu[0], t / parse_cpu[runs / 2]);
	printf("bench_json: write  best %.0f MB/s, median %.0f MB/s (jsonw_value of the DOM)\n",
	    t / write_s[0], t / write_s[runs / 2]);
	buf_fini(&out);
	free(doc);
	free(parse_s);
	free(parse_cpu);
	free(write_s);
	return 0;
}
