/*
 * test_util.c -- util/: buf, arena, b64, str, time, log (secret redaction), err, cancel.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include "tap.h"

/* ---- buf --------------------------------------------------------------------------- */

static void
test_buf(void)
{
	struct buf b = { 0 };
	struct err e = { 0 };
	char *p;
	size_t i;
	int rc;

	ok(b.p == NULL && b.len == 0, "a zero-filled buf is empty");
	is_int(buf_puts(&b, "hello", &e), 0, "buf_puts into a zero buf");
	is_int(buf_putc(&b, ' ', &e), 0, "buf_putc");
	is_int(buf_printf(&b, &e, "%s=%d", "x", 42), 0, "buf_printf");
	is_int(buf_append(&b, "\0z", 2, &e), 0, "buf_append with a NUL byte");
	ok(b.len == 12 && memcmp(b.p, "hello x=42\0z", 12) == 0 && b.p[b.len] == '\0',
	    "contents and NUL terminator");
	buf_consume(&b, 6);
	ok(b.len == 6 && memcmp(b.p, "x=42\0z", 6) == 0 && b.p[6] == '\0', "buf_consume front");
	buf_consume(&b, 100);
	ok(b.len == 0 && b.p[0] == '\0', "buf_consume past the end empties");
	buf_puts(&b, "abc", &e);
	buf_reset(&b);
	ok(b.len == 0 && b.p != NULL && b.p[0] == '\0', "buf_reset keeps the memory");
	buf_puts(&b, "keep", &e);
	p = buf_steal(&b);
	ok(strcmp(p, "keep") == 0 && b.p == NULL && b.len == 0 && b.cap == 0, "buf_steal");
	free(p);
	p = buf_steal(&b);
	ok(p != NULL && p[0] == '\0', "buf_steal of an empty buf gives \"\"");
	free(p);
	buf_fini(&b);
	buf_fini(&b);
	ok(b.p == NULL, "buf_fini twice is safe");

	/* Growth: a megabyte in odd-sized pieces, byte-exact. */
	buf_init(&b, 0);
	for (i = 0; i < 100000; i++) {
		char piece[16];
		int n = snprintf(piece, sizeof(piece), "%zu,", i);

		if (buf_append(&b, piece, (size_t)n, &e) != 0)
			break;
	}
	ok(i == 100000 && strncmp(b.p, "0,1,2,", 6) == 0 &&
	        strcmp(b.p + b.len - 6, "99999,") == 0 && strlen(b.p) == b.len,
	    "100000 appends, %zu bytes", b.len);
	buf_fini(&b);

	/* Cap: exactly max bytes fit, one more is ERR_TOOBIG, the buffer is unchanged. */
	buf_init(&b, 10);
	is_int(buf_append(&b, "0123456789", 10, &e), 0, "max bytes fit");
	rc = buf_putc(&b, 'x', &e);
	ok(rc == ERR_TOOBIG && e.code == ERR_TOOBIG && strstr(e.msg, "10-byte limit") != NULL,
	    "one byte over the cap: %s", e.msg);
	ok(b.len == 10 && strcmp(b.p, "0123456789") == 0 && b.cap <= 11,
	    "contents kept, capacity within max+1 (%zu)", b.cap);
	err_clear(&e);
	buf_reset(&b);
	rc = buf_printf(&b, &e, "%s", "this is longer than ten");
	ok(rc == ERR_TOOBIG && b.len == 0, "buf_printf over the cap fails cleanly");
	err_clear(&e);
	ok(buf_reserve(&b, SIZE_MAX, &e) == ERR_TOOBIG &&
	        buf_reserve(&b, SIZE_MAX - 1, NULL) == ERR_TOOBIG,
	    "buf_reserve of SIZE_MAX fails (no overflow)");
	buf_fini(&b);
	buf_init(&b, 0);
	err_clear(&e);
	ok(buf_reserve(&b, SIZE_MAX / 2 + 1, &e) == ERR_TOOBIG,
	    "uncapped buf_reserve over SIZE_MAX/2 fails (no overflow)");
	buf_fini(&b);
}

/* ---- arena --------------------------------------------------------------------------- */

static void
test_arena(void)
{
	struct arena *a = arena_new(1 << 20);
	unsigned char *blocks[200];
	size_t sizes[200], i, j;
	int bad = 0;
	char *s;

	/* Many sizes, each filled with its own pattern, then all checked: no overlap. */
	for (i = 0; i < 200; i++) {
		sizes[i] = (i * 7919) % 3000 + (i == 50 ? 40000 : 0);
		blocks[i] = arena_alloc(a, sizes[i]);
		if (blocks[i] == NULL || ((uintptr_t)blocks[i] & 15) != 0)
			bad++;
		else
			memset(blocks[i], (int)(i & 0xff), sizes[i]);
	}
	for (i = 0; i < 200; i++) {
		for (j = 0; blocks[i] != NULL && j < sizes[i]; j++) {
			if (blocks[i][j] != (unsigned char)(i & 0xff)) {
				bad++;
				break;
			}
		}
	}
	is_int(bad, 0, "200 allocations (one of 40 KB) are 16-aligned and disjoint");
	ok(arena_used(a) >= 40000 && arena_used(a) <= (1 << 20), "arena_used = %zu", arena_used(a));

	s = arena_zalloc(a, 100);
	for (i = 0, bad = 0; i < 100; i++)
		bad += s[i] != 0;
	is_int(bad, 0, "arena_zalloc zero-fills");
	is_str(arena_strdup(a, "abc"), "abc", "arena_strdup");
	s = arena_strndup(a, "abcdef", 3);
	ok(strcmp(s, "abc") == 0, "arena_strndup copies n and terminates");
	is_str(arena_printf(a, "%s-%d", "x", 7), "x-7", "arena_printf");
	s = arena_printf(a, "%0*d", 20000, 5);
	ok(s != NULL && strlen(s) == 20000 && s[19999] == '5', "arena_printf bigger than a block");
	arena_free(a);
	arena_free(NULL);

	/* The max is a hard cap on bytes handed out. */
	a = arena_new(1000);
	for (i = 0; arena_alloc(a, 10) != NULL; i++)
		;
	ok(i == 62 && arena_used(a) <= 1000,
	    "1000-byte arena: %zu x 10-byte blocks (16 each), "
	    "used %zu",
	    i, arena_used(a));
	ok(arena_alloc(a, 1) == NULL && arena_strdup(a, "x") == NULL &&
	        arena_printf(a, "%d", 1) == NULL,
	    "a full arena refuses every allocation");
	arena_free(a);
	a = arena_new(1000);
	ok(arena_alloc(a, 1001) == NULL && arena_alloc(a, 1000) == NULL &&
	        arena_alloc(a, 992) != NULL,
	    "one request over max fails; 992 (rounds to 992) fits");
	arena_free(a);
	a = arena_new(SIZE_MAX);
	ok(arena_alloc(a, SIZE_MAX) == NULL && arena_alloc(a, SIZE_MAX - 8) == NULL &&
	        arena_alloc(a, SIZE_MAX / 2 + 1) == NULL && arena_strndup(a, "x", SIZE_MAX) == NULL,
	    "sizes near SIZE_MAX never wrap around to a small block");
	ok(arena_alloc(a, 0) != NULL, "a zero-size allocation gives a valid pointer");
	arena_free(a);
	a = arena_new(0);
	ok(arena_alloc(a, 0) == NULL, "a zero-max arena gives nothing");
	arena_free(a);
}

/* ---- b64 ----------------------------------------------------------------------------- */

static void
test_b64(void)
{
	static const char *const vec[][2] = {
		/* RFC 4648 §10 */
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = { "Zm9v!", "Z", "Zm9vY", "Zg===", "=Zg=", "Zg==Zg==",
		"Zm9v=", "Zm9vYg=", "Zm8==", "Zg=", "-_8=", "Zm9\xc3\xa9",
		"Zh==", "Zm9=", "====", "Zm 9v Y=g=" };
	unsigned char all[256], dec[400];
	char enc[400];
	size_t i;
	ssize_t n;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t in = strlen(vec[i][0]);
		unsigned char *out = malloc(b64_decoded_max(strlen(vec[i][1])));

		ok(b64_encoded_len(in) == strlen(vec[i][1]), "b64_encoded_len(%zu)", in);
		b64_encode((const unsigned char *)vec[i][0], in, enc);
		is_str(enc, vec[i][1], "encode \"%s\"", vec[i][0]);
		n = b64_decode(vec[i][1], strlen(vec[i][1]), out);
		ok(n == (ssize_t)in && memcmp(out, vec[i][0], in) == 0, "decode \"%s\"", vec[i][1]);
		free(out);
	}
	n = b64_decode("Zm9vYg", 6, dec);
	ok(n == 4 && memcmp(dec, "foob", 4) == 0, "unpadded input decodes");
	n = b64_decode(" Zm9v\r\nYmFy\t", 12, dec);
	ok(n == 6 && memcmp(dec, "foobar", 6) == 0, "ASCII whitespace is ignored");
	n = b64_decode("Zm9vYg==\n", 9, dec);
	ok(n == 4, "whitespace after padding is fine");
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	for (i = 0; i <= 256; i++) {
		unsigned char *out;

		b64_encode(all, i, enc);
		out = malloc(b64_decoded_max(strlen(enc)));
		n = b64_decode(enc, strlen(enc), out);
		if (n != (ssize_t)i || memcmp(out, all, i) != 0) {
			free(out);
			break;
		}
		free(out);
	}
	ok(i == 257, "every length 0..256 of all byte values round-trips");
	b64_encode(all, 3, enc);
	ok(strcmp(enc, "//79") == 0, "the '/' and '+'-side alphabet: %s", enc);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(b64_decode(bad[i], strlen(bad[i]), dec) == -1, "rejects \"%s\"", bad[i]);
	ok(b64_decode("Zm9v\0Yg==", 9, dec) == -1, "rejects an embedded NUL");
}

/* ---- str ----------------------------------------------------------------------------- */

/* Independent reference: decode loosely, then require the canonical encoding back. */
static bool
ref_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], cp, need, k;
		unsigned char enc[4];
		size_t el;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			need = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			need = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + need >= n)
			return false; /* truncated */
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		if (cp < 0x80) {
			enc[0] = (unsigned char)cp;
			el = 1;
		} else if (cp < 0x800) {
			enc[0] = (unsigned char)(0xC0 | cp >> 6);
			enc[1] = (unsigned char)(0x80 | (cp & 0x3F));
			el = 2;
		} else if (cp < 0x10000) {
			enc[0] = (unsigned char)(0xE0 | cp >> 12);
			enc[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
			enc[2] = (unsigned char)(0x80 | (cp & 0x3F));
			el = 3;
		} else {
			enc[0] = (unsigned char)(0xF0 | cp >> 18);
			enc[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
			enc[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
			enc[3] = (unsigned char)(0x80 | (cp & 0x3F));
			el = 4;
		}
		if (el != need + 1 || memcmp(enc, s + i, el) != 0)
			return false; /* overlong */
		i += el;
	}
	return true;
}

static void
test_str(void)
{
	static const struct {
		const char *s;
		bool good;
		int64_t want;
	} ic[] = {
		{ "0", true, 0 },
		{ "-0", true, 0 },
		{ "+5", true, 5 },
		{ "123", true, 123 },
		{ "00012", true, 12 },
		{ "9223372036854775807", true, INT64_MAX },
		{ "-9223372036854775808", true, INT64_MIN },
		{ "9223372036854775808", false, 0 },
		{ "-9223372036854775809", false, 0 },
		{ "99999999999999999999", false, 0 },
		{ "", false, 0 },
		{ "-", false, 0 },
		{ "+", false, 0 },
		{ " 1", false, 0 },
		{ "1 ", false, 0 },
		{ "1a", false, 0 },
		{ "0x10", false, 0 },
		{ "1.0", false, 0 },
		{ "--1", false, 0 },
		{ "1e3", false, 0 },
	};
	static const struct {
		const char *s;
		size_t n;
		bool good;
	} uc[] = {
		{ "", 0, true },
		{ "plain", 5, true },
		{ "a\0b", 3, true },
		{ "\xc2\x80\xdf\xbf", 4, true },
		{ "\xe0\xa0\x80\xef\xbf\xbf", 6, true },
		{ "\xed\x9f\xbf\xee\x80\x80", 6, true },
		{ "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8, true },
		{ "\xc0\x80", 2, false },
		{ "\xc1\xbf", 2, false },
		{ "\xe0\x80\x80", 3, false },
		{ "\xe0\x9f\xbf", 3, false },
		{ "\xf0\x80\x80\x80", 4, false },
		{ "\xf0\x8f\xbf\xbf", 4, false },
		{ "\xed\xa0\x80", 3, false },
		{ "\xed\xbf\xbf", 3, false },
		{ "\xf4\x90\x80\x80", 4, false },
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xff", 1, false },
		{ "\x80", 1, false },
		{ "a\xc3", 2, false },
		{ "\xe2\x82", 2, false },
		{ "\xf0\x9f\x98", 3, false },
		{ "\xc3(", 2, false },
	};
	size_t i;
	int64_t v;
	long bad;
	unsigned x;
	unsigned char b3[3];

	for (i = 0; i < sizeof(ic) / sizeof(ic[0]); i++) {
		bool got;

		v = 777;
		got = str_to_i64(str_from(ic[i].s), &v);
		if (ic[i].good)
			ok(got && v == ic[i].want, "str_to_i64(\"%s\") = %" PRId64, ic[i].s,
			    ic[i].want);
		else
			ok(!got && v == 777, "str_to_i64(\"%s\") fails and leaves *out", ic[i].s);
	}
	ok(str_to_i64((struct str){ "123456", 3 }, &v) && v == 123,
	    "str_to_i64 reads only len bytes");

	for (i = 0; i < sizeof(uc) / sizeof(uc[0]); i++)
		ok(str_utf8_valid(uc[i].s, uc[i].n) == uc[i].good, "str_utf8_valid case %zu (%s)",
		    i, uc[i].good ? "valid" : "invalid");
	/* Exhaustive against the reference for every 1-, 2- and 3-byte string. */
	bad = 0;
	for (x = 0; x < (1u << 24); x++) {
		b3[0] = (unsigned char)(x >> 16);
		b3[1] = (unsigned char)(x >> 8);
		b3[2] = (unsigned char)x;
		if (str_utf8_valid((const char *)b3, 3) != ref_utf8_valid(b3, 3))
			bad++;
		if (x < (1u << 16) &&
		    str_utf8_valid((const char *)b3 + 1, 2) != ref_utf8_valid(b3 + 1, 2))
			bad++;
		if (x < 256 && str_utf8_valid((const char *)b3 + 2, 1) != ref_utf8_valid(b3 + 2, 1))
			bad++;
	}
	is_int(bad, 0, "str_utf8_valid matches a reference on all 1-3 byte strings");
	/* Leads F0..FF with every second byte and edge third/fourth bytes. */
	bad = 0;
	for (x = 0; x < 16 * 256 * 64; x++) {
		static const unsigned char last[] = { 0x7f, 0x80, 0xbf, 0xc0 };
		unsigned char b4[4] = { (unsigned char)(0xF0 + (x >> 14)), (unsigned char)(x >> 6),
			(unsigned char)(0x80 | (x & 0x3F)), 0 };
		size_t k;

		for (k = 0; k < sizeof(last); k++) {
			b4[3] = last[k];
			if (str_utf8_valid((const char *)b4, 4) != ref_utf8_valid(b4, 4))
				bad++;
		}
	}
	is_int(bad, 0, "str_utf8_valid matches the reference on 4-byte leads F0..FF");

	is_int(str_utf8_safe_len("abc", 3), 3, "safe_len ASCII");
	is_int(str_utf8_safe_len("ab\xe2\x82", 4), 2, "safe_len cuts a partial 3-byte sequence");
	is_int(str_utf8_safe_len("ab\xe2\x82\xac", 5), 5, "safe_len keeps a whole 3-byte sequence");
	is_int(str_utf8_safe_len("\xf0\x9f\x98", 3), 0, "safe_len cuts a partial 4-byte sequence");
	is_int(str_utf8_safe_len("\xf0\x9f\x98\x80", 4), 4,
	    "safe_len keeps a whole 4-byte sequence");
	is_int(str_utf8_safe_len("a\xc3", 2), 1, "safe_len cuts a lone lead byte");
	is_int(str_utf8_safe_len("\xc3\xa9", 2), 2, "safe_len keeps a 2-byte sequence");
	is_int(str_utf8_safe_len("", 0), 0, "safe_len of nothing");

	ok(str_eq(STR_LIT("abc"), "abc") && !str_eq(STR_LIT("abc"), "abcd") &&
	        !str_eq(STR_LIT("abc"), "ab"),
	    "str_eq");
	ok(str_ieq(STR_LIT("Content-Type"), "content-type") && !str_ieq(STR_LIT("a"), "b"),
	    "str_ieq");
	ok(str_has_prefix("foobar", "foo") && !str_has_prefix("fo", "foo") &&
	        str_has_suffix("foobar", "bar") && !str_has_suffix("ar", "bar") &&
	        str_has_suffix("x", ""),
	    "str_has_prefix/suffix");
	{
		struct str t = str_trim(STR_LIT(" \t a b \t "));

		ok(t.len == 3 && memcmp(t.p, "a b", 3) == 0, "str_trim");
		t = str_trim(STR_LIT("   "));
		ok(t.len == 0, "str_trim of blanks is empty");
		t = str_from(NULL);
		ok(t.p == NULL && t.len == 0, "str_from(NULL)");
	}
}

/* ---- time ---------------------------------------------------------------------------- */

static void
test_time(void)
{
	static const struct {
		int64_t ms;
		const char *want;
	} fc[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 951782400000LL, "2000-02-29T00:00:00.000Z" },
		{ 1764547200123LL, "2025-12-01T00:00:00.123Z" },
		{ 4102444799999LL, "2099-12-31T23:59:59.999Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ -86400000LL, "1969-12-31T00:00:00.000Z" },
		{ INT64_MAX, "9999-12-31T23:59:59.999Z" },
		{ INT64_MIN, "0000-01-01T00:00:00.000Z" },
	};
	static const struct {
		const char *s;
		int64_t want;
	} pc[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01t00:00:00z", 0 },
		{ "1970-01-01 00:00:00Z", 0 },
		{ "2000-02-29T12:34:56.789Z", 951827696789LL },
		{ "2000-02-29T12:34:56.7Z", 951827696700LL },
		{ "2000-02-29T12:34:56.789999Z", 951827696789LL },
		{ "2000-02-29T14:34:56.789+02:00", 951827696789LL },
		{ "2000-02-29T07:04:56.789-05:30", 951827696789LL },
		{ "1969-12-31T23:59:59.999Z", -1 },
		{ "2016-12-31T23:59:60Z", 1483228800000LL },
		{ "2025-12-01T00:00:00.123", 1764547200123LL },
		{ "0000-01-01T00:00:00Z", -62167219200000LL },
	};
	static const char *const bad[] = { "", "2026", "2026-01-01", "2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z", "2026-01-32T00:00:00Z", "2026-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
		"2026-01-01T00:00:61Z", "2026-01-01T-1:00:00Z", "2026-1-01T00:00:00Z",
		"2026-01-01T0:00:00Z", " 2026-01-01T00:00:00Z", "+2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+1:00", "2026-01-01T00:00:00+01",
		"2026-01-01T00:00:00+01:0", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00Z ",
		"2026-01-01T00:00:00ZZ", "2026-01-01X00:00:00Z", "2026/01/01T00:00:00Z",
		"2026-01-01T00:00:00+01:00x" };
	char out[40];
	size_t i;
	int64_t v, t0, t1;
	unsigned seed = 99;
	int badn = 0;

	for (i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
		time_format_rfc3339(fc[i].ms, out, sizeof(out));
		is_str(out, fc[i].want, "format %" PRId64, fc[i].ms);
	}
	for (i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
		v = 12345;
		if (!ok(time_parse_rfc3339(pc[i].s, &v) == 0 && v == pc[i].want, "parse %s",
		        pc[i].s))
			note("  got %" PRId64 ", want %" PRId64, v, pc[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A heap copy of exactly strlen+1 bytes: an over-read is an ASan report. */
		char *s = strdup(bad[i]);

		ok(time_parse_rfc3339(s, &v) == -1, "rejects \"%s\"", bad[i]);
		free(s);
	}
	for (i = 0; i < 20000; i++) {
		int64_t ms;

		seed = seed * 1103515245u + 12345u;
		ms = (int64_t)seed * 61;
		seed = seed * 1103515245u + 12345u;
		/* Years ~700 .. ~8900, both sides of 1970, with milliseconds. */
		ms = ms * 1000 + seed % 1000 - 40000000000000LL;
		time_format_rfc3339(ms, out, sizeof(out));
		if (time_parse_rfc3339(out, &v) != 0 || v != ms) {
			if (badn++ < 3)
				note("  %" PRId64 " -> %s -> %" PRId64, ms, out, v);
		}
	}
	is_int(badn, 0, "format then parse is the identity on 20000 times in years 700..8900");

	ok(deadline_in_ms(-1) == DEADLINE_NONE && deadline_left_ms(DEADLINE_NONE) == -1 &&
	        !deadline_passed(DEADLINE_NONE),
	    "no deadline");
	t0 = time_mono_ms();
	ok(deadline_left_ms(t0 - 5) == 0 && deadline_passed(t0 - 5), "a past deadline");
	v = deadline_in_ms(3600000);
	ok(deadline_left_ms(v) > 0 && deadline_left_ms(v) <= 3600000 && !deadline_passed(v),
	    "an hour from now is in the future");
	ok(deadline_min(v, DEADLINE_NONE) == v && deadline_min(DEADLINE_NONE, v) == v,
	    "deadline_min");
	ok(deadline_left_ms(INT64_MAX - 1) == 2147483647, "far deadlines clamp to INT_MAX");
	t1 = time_mono_ms();
	ok(t1 >= t0 && time_wall_ms() > 1600000000000LL && time_since_start_ms() >= 0,
	    "clocks are sane");
}

/* ---- log ----------------------------------------------------------------------------- */

static char hook_msg[4096];
static int hook_calls;

static void
hook(enum log_level lvl, const char *module, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	hook_calls++;
	snprintf(hook_msg, sizeof(hook_msg), "%s|%s", module, msg);
}

static void
test_log(void)
{
	char s[512], line[4096];
	int fds[2], saved, i;
	enum log_level lv;
	ssize_t n;

	log_add_secret("abc"); /* too short: ignored */
	log_add_secret(NULL);
	snprintf(s, sizeof(s), "abc is fine");
	log_scrub(s);
	is_str(s, "abc is fine", "secrets under 4 bytes are not registered");

	log_add_secret("sk-live-0123456789abcdef");
	snprintf(s, sizeof(s), "key=sk-live-0123456789abcdef, again sk-live-0123456789abcdef.");
	log_scrub(s);
	is_str(s, "key=[redacted], again [redacted].",
	    "a long secret becomes [redacted] everywhere");

	log_add_secret("hunter22");
	snprintf(s, sizeof(s), "pw hunter22!");
	log_scrub(s);
	is_str(s, "pw ********!", "a short secret is masked with '*'");

	/* A short secret registered first must not leave the rest of a longer one. */
	log_add_secret("tok_");
	log_add_secret("tok_SECRETSECRETSECRET");
	snprintf(s, sizeof(s), "Bearer tok_SECRETSECRETSECRET");
	log_scrub(s);
	ok(strstr(s, "SECRET") == NULL, "a secret containing a shorter one is redacted whole: %s",
	    s);

	/* No cap: the 40th secret is still redacted. */
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "secret-number-%02d-xyzzy", i);
		log_add_secret(line);
	}
	snprintf(s, sizeof(s), "x secret-number-39-xyzzy y secret-number-00-xyzzy");
	log_scrub(s);
	is_str(s, "x [redacted] y [redacted]", "many registered secrets are all redacted");
	log_add_secret("sk-live-0123456789abcdef"); /* a duplicate is fine */

	/* log_msg: one scrubbed, flattened line on stderr, and the hook. */
	if (pipe(fds) != 0) {
		ok(0, "pipe");
		return;
	}
	saved = dup(2);
	dup2(fds[1], 2);
	log_set_level(LOG_INFO);
	log_set_hook(hook, NULL, LOG_WARN);
	log_msg(LOG_INFO, "test", "token %s\nline two", "sk-live-0123456789abcdef");
	log_msg(LOG_DEBUG, "test", "dropped");
	log_msg(LOG_ERROR, "mod", "err with hunter22");
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], line, sizeof(line) - 1);
	close(fds[0]);
	line[n > 0 ? n : 0] = '\0';
	ok(strstr(line, "sandbox-mcp: info test: token [redacted] line two (+") != NULL &&
	        strstr(line, "dropped") == NULL &&
	        strstr(line,
	            "sandbox-mcp: error mod: err with "
	            "******** (+") != NULL &&
	        strstr(line, "sk-live") == NULL,
	    "stderr lines: %s", line);
	ok(hook_calls == 1 && strcmp(hook_msg, "mod|err with ********") == 0,
	    "the hook gets only messages at its level, scrubbed: %s", hook_msg);
	log_set_hook(NULL, NULL, LOG__MAX);
	log_set_level(LOG_WARN);
	ok(log_get_level() == LOG_WARN, "log_get_level");

	ok(log_level_parse("warning", &lv) == 0 && lv == LOG_WARN &&
	        log_level_parse("warn", &lv) == 0 && lv == LOG_WARN &&
	        log_level_parse("EMERGENCY", &lv) == 0 && lv == LOG_EMERG &&
	        log_level_parse("debug", &lv) == 0 && lv == LOG_DEBUG &&
	        log_level_parse("loud", &lv) == -1,
	    "log_level_parse");
	ok(strcmp(log_level_name(LOG_NOTICE), "notice") == 0 &&
	        strcmp(log_level_name(LOG_CRIT), "critical") == 0 &&
	        strcmp(log_level_name(LOG__MAX), "unknown") == 0,
	    "log_level_name");
}

/* ---- err, mem, cancel ------------------------------------------------------------------ */

static void
test_err(void)
{
	struct err e = { 0 };
	char big[600];
	int i;

	is_int(err_set(&e, ERR_TIMEOUT, "first %d", 1), ERR_TIMEOUT, "err_set returns the code");
	is_int(err_set(&e, ERR_IO, "second"), ERR_TIMEOUT,
	    "a second err_set returns the first code");
	ok(e.code == ERR_TIMEOUT && strcmp(e.msg, "first 1") == 0, "first error wins");
	err_prefix(&e, "%s: ", "ctx");
	is_str(e.msg, "ctx: first 1", "err_prefix");
	err_clear(&e);
	ok(e.code == ERR_OK && e.msg[0] == '\0', "err_clear");
	err_prefix(&e, "ctx: ");
	ok(e.msg[0] == '\0', "err_prefix without an error is a no-op");
	is_int(err_set(NULL, ERR_INVAL, "x"), ERR_INVAL, "err_set(NULL) returns the code");
	err_clear(NULL);
	err_prefix(NULL, "x");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, ERR_INVAL, "%s", big);
	ok(strlen(e.msg) == ERR_MSG_MAX - 1, "a long message is truncated to %d bytes",
	    ERR_MSG_MAX - 1);
	err_prefix(&e, "prefix: ");
	ok(strlen(e.msg) == ERR_MSG_MAX - 1 && strncmp(e.msg, "prefix: xxx", 11) == 0,
	    "err_prefix on a full message stays in bounds");
	for (i = 0; i < ERR__MAX; i++) {
		if (err_name(i) == NULL || strcmp(err_name(i), "unknown") == 0)
			break;
	}
	ok(i == ERR__MAX && strcmp(err_name(ERR_TIMEOUT), "timeout") == 0 &&
	        strcmp(err_name(-1), "unknown") == 0 && strcmp(err_name(ERR__MAX), "unknown") == 0,
	    "err_name names every code");
}

static void
test_mem_cancel(void)
{
	struct cancel *c = cancel_new();
	struct pollfd pfd;
	char *p;

	p = xstrndup("abcdef", 3);
	is_str(p, "abc", "xstrndup");
	free(p);
	p = xstrdup("");
	is_str(p, "", "xstrdup of empty");
	free(p);
	p = xcalloc(0, 0);
	ok(p != NULL, "xcalloc(0, 0) gives a pointer");
	p = xrealloc(p, 0);
	ok(p != NULL, "xrealloc(p, 0) gives a pointer");
	free(p);

	ok(!cancel_fired(c) && cancel_fd(c) >= 0, "a new token has not fired");
	pfd.fd = cancel_fd(c);
	pfd.events = POLLIN;
	ok(poll(&pfd, 1, 0) == 0, "its fd is not readable");
	cancel_fire(c);
	cancel_fire(c);
	ok(cancel_fired(c) && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN),
	    "fired: flag set and fd readable");
	ok(poll(&pfd, 1, 0) == 1, "and stays readable");
	cancel_free(c);
	ok(!cancel_fired(NULL) && cancel_fd(NULL) == -1, "a NULL token never fires");
	cancel_fire(NULL);
	cancel_free(NULL);
}

int
main(void)
{
	test_buf();
	test_arena();
	test_b64();
	test_str();
	test_time();
	test_log();
	test_err();
	test_mem_cancel();
	return done_testing();
}
