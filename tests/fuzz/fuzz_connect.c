/*
 * fuzz_connect.c -- libFuzzer target for net/connect's parsers: the envelope decoder,
 * the end-of-stream JSON and Connect error bodies.
 *
 * Input: byte 0 picks the message cap (0 = default, else byte * 3) and, with byte 1,
 * an HTTP status for connect_error_body; the rest is a response body. The body is
 * decoded as envelopes whole and in PRNG-sized pieces (each its own malloc, freed at
 * DEC_MORE); every end-of-stream payload goes through connect_end_parse, and the
 * whole body through connect_error_body and connect_status_err.
 * Checks (abort on violation): same frames and outcome both ways; 1..len consumed per
 * frame; no compressed frame and no payload over the cap is handed out; nothing after
 * the end-of-stream frame; errors stick; sentences are non-empty with no control bytes
 * and start with the code's name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/connect.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_connect: %s\n", what);
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

static uint64_t rs;

static size_t
next_piece(size_t left)
{
	size_t n;

	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	n = rs % 3 == 0 ? 1 : (rs >> 8) % (rs % 3 == 1 ? 9 : 300);
	return n < left ? n : left;
}

static void
check_sentence(const struct connect_status *st)
{
	struct err e = { 0 };
	const char *name = connect_code_name(st->code);
	size_t i;

	if (connect_status_err(st, &e) != connect_code_err(st->code))
		fail("connect_status_err returned the wrong code");
	if (strncmp(e.msg, name, strlen(name)) != 0 || e.msg[strlen(name)] != ':')
		fail("the sentence does not start with the code name");
	for (i = 0; e.msg[i]; i++) {
		if ((unsigned char)e.msg[i] < 0x20)
			fail("a control byte in the sentence");
	}
}

static uint64_t
decode(size_t max, const char *in, size_t len, int split)
{
	struct connect_dec d;
	struct connect_frame f;
	struct connect_status st;
	struct err e = { 0 }, e2 = { 0 };
	size_t cap = max ? max : CONNECT_MESSAGE_MAX, off = 0, n, left;
	uint64_t h = 0xcbf29ce484222325ull;
	bool ended = false;
	char *piece;
	const char *p;
	ssize_t r;

	connect_dec_init(&d, max);
	do {
		n = split ? next_piece(len - off) : len - off;
		piece = malloc(n ? n : 1);
		memcpy(piece, in + off, n);
		p = piece;
		left = n;
		for (;;) {
			r = connect_dec_next(&d, p, left, &f, &e);
			if (r == DEC_MORE)
				break;
			if (r == DEC_ERR) {
				free(piece);
				if (connect_dec_next(&d, "\0", 1, &f, &e2) != DEC_ERR ||
				    e2.code != e.code || connect_dec_end(&d, &e2) != e.code)
					fail("an error did not stick");
				h = hash(h, &e.code, sizeof(e.code));
				goto out;
			}
			if (r < 1 || (size_t)r > left)
				fail("bad consumed count");
			if (ended)
				fail("a frame after the end-of-stream frame");
			if (f.flags & CONNECT_FLAG_COMPRESSED)
				fail("a compressed frame was handed out");
			if (f.payload.len > cap)
				fail("a payload over the cap was handed out");
			if (f.flags & CONNECT_FLAG_END) {
				struct arena *a = arena_new(1 << 20);

				ended = true;
				memset(&st, 0, sizeof(st));
				st.message = "";
				if (connect_end_parse(f.payload.p, f.payload.len, &st, a, NULL) ==
				    0) {
					if (st.code != CONNECT_OK)
						check_sentence(&st);
					h = hash(h, &st.code, sizeof(st.code));
				}
				arena_free(a);
			}
			h = hash(h, &f.flags, sizeof(f.flags));
			h = hash(h, &f.payload.len, sizeof(f.payload.len));
			h = hash(h, f.payload.p, f.payload.len);
			p += r;
			left -= (size_t)r;
		}
		free(piece);
		if (d.msg.len > cap)
			fail("the decoder holds more than the cap");
		off += n;
	} while (off < len);
	h = hash(h, "END", 3);
	r = connect_dec_end(&d, &e);
	h = hash(h, &r, sizeof(r));
	if (ended != connect_dec_ended(&d))
		fail("connect_dec_ended disagrees");
out:
	connect_dec_fini(&d);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct connect_status st;
	struct arena *a;
	size_t max;
	uint64_t whole;
	int status, i;

	if (size < 2)
		return 0;
	max = (size_t)data[0] * 3;
	status = 200 + (data[1] % 4) * 100 + data[0] % 32;
	whole = decode(max, (const char *)data + 2, size - 2, 0);
	rs = hash(0x9e3779b97f4a7c15ull, data, size) | 1;
	for (i = 0; i < 3; i++) {
		if (decode(max, (const char *)data + 2, size - 2, 1) != whole)
			fail("split decoding differs from whole decoding");
	}

	a = arena_new(1 << 20);
	memset(&st, 0, sizeof(st));
	connect_error_body(status, data[1] & 1 ? "Reason Phrase" : NULL, (const char *)data + 2,
	    size - 2, &st, a);
	if (st.message == NULL || st.http_status != status)
		fail("connect_error_body left the status unset");
	if (st.code != CONNECT_OK)
		check_sentence(&st);
	arena_free(a);
	return 0;
}
