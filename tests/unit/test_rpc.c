/* test_rpc.c -- the stdio line reader: splits, CRLF, over-long lines, EOF, wake-ups. */
#include "mcp/rpc.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct feed {
	int fd;
	const char *data;
	size_t len;
	size_t step;
};

static void *
writer(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	while (off < f->len) {
		size_t n = f->len - off < f->step ? f->len - off : f->step;
		ssize_t w = write(f->fd, f->data + off, n);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(f->fd);
	return NULL;
}

/* Reads everything from data fed in `step`-byte writes; joins lines with '|'. */
static char *
read_all(const char *data, size_t len, size_t step, int *toolong)
{
	int p[2];
	struct feed f;
	pthread_t th;
	struct rpc_reader r;
	const char *line;
	size_t n;
	enum rpc_read_status st;
	static char out[4096];
	size_t o = 0;

	*toolong = 0;
	if (pipe(p) != 0)
		return NULL;
	f = (struct feed){ p[1], data, len, step };
	pthread_create(&th, NULL, writer, &f);
	rpc_reader_init(&r, p[0], -1);
	while ((st = rpc_reader_next(&r, &line, &n)) == RPC_LINE || st == RPC_LINE_TOOLONG) {
		if (st == RPC_LINE_TOOLONG) {
			(*toolong)++;
			if (o + 1 < sizeof(out))
				out[o++] = '!';
		} else if (n > 64) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "<%zu bytes>", n);
		} else if (o + n + 1 < sizeof(out)) {
			memcpy(out + o, line, n);
			o += n;
		}
		if (o + 1 < sizeof(out))
			out[o++] = '|';
	}
	out[o] = '\0';
	pthread_join(th, NULL);
	rpc_reader_fini(&r);
	close(p[0]);
	return out;
}

int
main(void)
{
	static const char doc[] = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}";
	size_t step;
	int tl, good = 1;
	char *big;
	size_t biglen;

	for (step = 1; step <= sizeof(doc); step++) {
		char *got = read_all(doc, sizeof(doc) - 1, step, &tl);

		if (strcmp(got, "{\"a\":1}|{\"b\":2}||{\"c\":3}|") != 0) {
			good = 0;
			note("step %zu: %s", step, got);
		}
	}
	ok(good,
	    "lines survive every write size; CRLF is trimmed; a last line without newline is kept");

	biglen = RPC_LINE_MAX + 100;
	big = malloc(biglen + 64);
	memset(big, 'x', biglen);
	memcpy(big + biglen, "\nnext\n", 6);
	is_str(read_all(big, biglen + 6, 65536, &tl), "!|next|",
	    "a line over the cap is skipped and reading goes on");
	is_int(tl, 1, "one over-long line reported");
	memset(big, 'y', RPC_LINE_MAX);
	memcpy(big + RPC_LINE_MAX, "\nok\n", 4);
	{
		char want[64];

		snprintf(want, sizeof(want), "<%u bytes>|ok|", RPC_LINE_MAX);
		is_str(read_all(big, RPC_LINE_MAX + 4, 65536, &tl), want,
		    "a line of exactly the cap is accepted");
	}
	memset(big, 'z', biglen);
	is_str(read_all(big, biglen, 65536, &tl), "!|",
	    "an over-long last line without newline is reported at EOF");
	free(big);

	{
		int p[2], w[2];
		struct rpc_reader r;
		const char *line;
		size_t n;

		if (pipe(p) == 0 && pipe(w) == 0) {
			rpc_reader_init(&r, p[0], w[0]);
			if (write(w[1], "x", 1) == 1)
				is_int(rpc_reader_next(&r, &line, &n), RPC_WAKE,
				    "the wake descriptor interrupts a read");
			rpc_reader_fini(&r);
			close(p[0]), close(p[1]), close(w[0]), close(w[1]);
		}
	}
	return done_testing();
}
