/*
 * fuzz_stream.c -- libFuzzer target for net/stream (SSE, NDJSON, execd).
 *
 * Input: byte 0 picks the mode (bits 0-1: SSE, NDJSON, execd, SSE) and the event cap
 * (bits 2-7: 0 = default, else 4 * value bytes); the rest is the stream. It is decoded
 * twice: whole, and in pieces whose sizes come from a PRNG seeded with the input.
 * Each piece is a malloc of exactly its size, freed once the decoder says DEC_MORE,
 * so ASan catches reads past a piece and slices kept into a dropped piece.
 * Checks (abort on violation):
 *  - both runs give the same events (hashed) and the same outcome;
 *  - stream_next consumes 1..len bytes per event; errors are sticky and repeat;
 *  - NDJSON/execd events have no type/id and retry -1; their data is trimmed and not
 *    empty; SSE events have a type and no event data over the cap;
 *  - the decoder never holds a line or data over the cap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/stream.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_stream: %s\n", what);
	abort();
}

static uint64_t
hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t
hash_event(uint64_t h, enum stream_mode mode, size_t cap, const struct stream_event *ev)
{
	size_t lens[3] = { ev->data.len, ev->type.len, ev->id.len };

	if (ev->data.len > cap || ev->id.len > cap ||
	    (ev->type.len > cap && !(ev->type.len == 7 && memcmp(ev->type.p, "message", 7) == 0)))
		fail("an event field is over the cap");
	if (mode != STREAM_SSE) {
		if (ev->type.len || ev->id.len || ev->retry_ms != -1)
			fail("a line-mode event has SSE fields");
		if (ev->data.len == 0)
			fail("a line-mode event is empty");
		if (memchr(" \t\r\n", ev->data.p[0], 4) ||
		    memchr(" \t\r\n", ev->data.p[ev->data.len - 1], 4))
			fail("a line-mode event is not trimmed");
		if (memchr(ev->data.p, '\n', ev->data.len))
			fail("a line-mode event holds an LF");
	} else if (ev->type.len == 0) {
		fail("an SSE event without a type");
	}
	h = hash(h, lens, sizeof(lens));
	h = hash(h, ev->data.p, ev->data.len);
	h = hash(h, ev->type.p, ev->type.len);
	h = hash(h, ev->id.p, ev->id.len);
	return hash(h, &ev->retry_ms, sizeof(ev->retry_ms));
}

static uint64_t rs;

static size_t
next_piece(size_t left)
{
	size_t n;

	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	switch (rs % 4) {
	case 0:
		n = 1;
		break;
	case 1:
		n = (rs >> 8) % 8;
		break;
	case 2:
		n = (rs >> 8) % 64;
		break;
	default:
		n = (rs >> 8) % 4096;
		break;
	}
	return n < left ? n : left;
}

/* Decodes in[0..len) in pieces (all at once when split is false); returns a hash of
 * the events and the outcome. */
static uint64_t
decode(enum stream_mode mode, size_t max, const char *in, size_t len, int split)
{
	struct stream_dec d;
	struct stream_event ev;
	struct err e = { 0 }, e2 = { 0 };
	size_t cap = max ? max : STREAM_EVENT_MAX, off = 0, n, left;
	uint64_t h = 0xcbf29ce484222325ull;
	char *piece;
	const char *p;
	ssize_t r;
	int rc;

	stream_dec_init(&d, mode, max);
	while (off < len || off == 0) {
		n = split ? next_piece(len - off) : len - off;
		piece = malloc(n ? n : 1);
		memcpy(piece, in + off, n);
		p = piece;
		left = n;
		for (;;) {
			r = stream_next(&d, p, left, &ev, &e);
			if (r == DEC_MORE)
				break;
			if (r == DEC_ERR) {
				free(piece);
				if (stream_next(&d, "x\n", 2, &ev, &e2) != DEC_ERR ||
				    e2.code != e.code || strcmp(e2.msg, e.msg) != 0)
					fail("an error did not stick");
				h = hash(h, "ERR", 3);
				h = hash(h, &e.code, sizeof(e.code));
				goto out;
			}
			if (r < 1 || (size_t)r > left)
				fail("stream_next consumed a bad count");
			h = hash_event(h, mode, cap, &ev);
			p += r;
			left -= (size_t)r;
		}
		free(piece);
		if (d.line.len > cap || d.data_buf.len > cap || d.type_buf.len > cap)
			fail("the decoder holds more than the cap");
		off += n;
		if (len == 0)
			break;
	}
	while ((rc = stream_end(&d, &ev, &e)) == 1)
		h = hash_event(h, mode, cap, &ev);
	if (rc < 0) {
		h = hash(h, "ERR", 3);
		h = hash(h, &e.code, sizeof(e.code));
	} else {
		h = hash(h, "END", 3);
	}
out:
	stream_dec_fini(&d);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum stream_mode modes[4] = { STREAM_SSE, STREAM_NDJSON, STREAM_EXECD,
		STREAM_SSE };
	enum stream_mode mode;
	size_t max;
	uint64_t whole;
	int i;

	if (size < 1)
		return 0;
	mode = modes[data[0] & 3];
	max = (size_t)(data[0] >> 2) * 4;
	whole = decode(mode, max, (const char *)data + 1, size - 1, 0);
	rs = hash(0x9e3779b97f4a7c15ull, data, size) | 1;
	for (i = 0; i < 3; i++) {
		if (decode(mode, max, (const char *)data + 1, size - 1, 1) != whole)
			fail("split decoding differs from whole decoding");
	}
	return 0;
}
