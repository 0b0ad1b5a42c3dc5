/*
 * bench_stream.c -- net/stream decoder throughput (numbers only, never pass/fail).
 *
 * Generates a 100 MB SSE stream (single-line JSON data events with an event type,
 * every tenth with an id, every fiftieth with three data lines) and a 100 MB NDJSON
 * stream (one JSON object per line, CRLF every other line), then decodes each fed in
 * 4 KiB and 64 KiB reads, the way an HTTP body callback sees it. Prints MB/s and
 * events/s, best of BENCH_REPEAT (default 3) runs, next to a memchr('\n') pass
 * over the same bytes for scale.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/stream.h"

#define STREAM_BYTES (100u * 1000 * 1000)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
gen_sse(size_t *len)
{
	char *p = malloc(STREAM_BYTES + 4096);
	size_t n = 0, i = 0;

	while (n < STREAM_BYTES) {
		if (i % 10 == 0)
			n += (size_t)sprintf(p + n, "id: %zu\n", i);
		if (i % 50 == 0)
			n += (size_t)sprintf(p + n,
			    "data: {\"type\":\"stdout\",\n"
			    "data:  \"text\":\"line %zu of a multi-line event\",\n"
			    "data:  \"timestamp\":1718000000%03zu}\n\n",
			    i, i % 1000);
		else
			n += (size_t)sprintf(p + n,
			    "event: stdout\ndata: {\"type\":\"stdout\","
			    "\"text\":\"output line number %zu from the command, some text\","
			    "\"timestamp\":1718000000%03zu}\n\n",
			    i, i % 1000);
		i++;
	}
	*len = n;
	return p;
}

static char *
gen_ndjson(size_t *len)
{
	char *p = malloc(STREAM_BYTES + 4096);
	size_t n = 0, i = 0;

	while (n < STREAM_BYTES) {
		n += (size_t)sprintf(p + n,
		    "{\"type\":\"stdout\",\"text\":\"output line number %zu "
		    "from the command, some text\",\"timestamp\":1718000000%03zu}%s",
		    i, i % 1000, i % 2 ? "\r\n" : "\n");
		i++;
	}
	*len = n;
	return p;
}

static size_t sink;

static int
on_event(void *arg, const struct stream_event *ev, struct err *e)
{
	(*(size_t *)arg)++;
	sink += ev->data.len;
	return 0;
}

static double
run(enum stream_mode mode, const char *in, size_t len, size_t chunk, size_t *events)
{
	struct stream_dec d;
	struct err e = { 0 };
	size_t off, n;
	double t0, t;

	*events = 0;
	stream_dec_init(&d, mode, 0);
	t0 = now_s();
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (stream_feed(&d, in + off, n, on_event, events, &e) != 0) {
			fprintf(stderr, "bench_stream: %s\n", e.msg);
			exit(1);
		}
	}
	stream_feed_end(&d, on_event, events, &e);
	t = now_s() - t0;
	stream_dec_fini(&d);
	return t;
}

static double
run_memchr(const char *in, size_t len)
{
	const char *p = in, *end = in + len, *q;
	double t0 = now_s();

	while (p < end && (q = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		sink++;
		p = q + 1;
	}
	return now_s() - t0;
}

static void
bench(const char *name, enum stream_mode mode, const char *in, size_t len, int repeat)
{
	static const size_t chunks[2] = { 4096, 65536 };
	size_t c, events = 0;
	double best, t;
	int r;

	for (c = 0; c < 2; c++) {
		best = 1e9;
		for (r = 0; r < repeat; r++) {
			t = run(mode, in, len, chunks[c], &events);
			if (t < best)
				best = t;
		}
		printf("stream %-6s %3zu MB in %2zu KiB reads: %8.1f MB/s  %6.2f M events/s\n",
		    name, len / 1000000, chunks[c] / 1024, (double)len / best / 1e6,
		    (double)events / best / 1e6);
	}
	best = 1e9;
	for (r = 0; r < repeat; r++) {
		t = run_memchr(in, len);
		if (t < best)
			best = t;
	}
	printf("memchr('\\n') over the %s stream (for scale):    %8.1f MB/s\n", name,
	    (double)len / best / 1e6);
}

int
main(void)
{
	const char *rep = getenv("BENCH_REPEAT");
	int repeat = rep ? atoi(rep) : 3;
	size_t len;
	char *in;

	if (repeat < 1)
		repeat = 1;
	in = gen_sse(&len);
	bench("SSE", STREAM_SSE, in, len, repeat);
	free(in);
	in = gen_ndjson(&len);
	bench("NDJSON", STREAM_NDJSON, in, len, repeat);
	free(in);
	return sink == 42 ? 1 : 0;
}
