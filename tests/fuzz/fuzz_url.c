/*
 * fuzz_url.c -- libFuzzer target for url.h.
 *
 * The input is split at the first NUL into a URL and a second string (a reference or
 * an API path). For every input:
 *  - url_parse either fails with ERR_INVAL/ERR_TOOBIG and a message, or gives a scheme
 *    of "http"/"https", a lower-case host, a port 1-65535 and a path starting with '/';
 *  - url_format of a parsed URL parses again to the same host, port, path and query,
 *    and formatting that gives the same string (a fixed point);
 *  - url_resolve against the parsed URL and url_join onto it, when they succeed, give
 *    URLs that parse;
 *  - url_decode(url_encode(s)) == s for every part mode (s without NUL bytes).
 * Any violation aborts.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/url.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_url: %s\n", what);
	abort();
}

static int
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_url(const struct url *u)
{
	const char *h;

	if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
		fail("scheme");
	if (u->port < 1 || u->port > 65535 || u->path == NULL || u->path[0] != '/')
		fail("port or path");
	for (h = u->host; *h; h++) {
		if (isupper((unsigned char)*h))
			fail("host not lower case");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(64u << 20);
	char *s = malloc(size + 1), *second, *f1, *f2, *out;
	struct url u, u2;
	struct err e = { 0 };
	struct buf b;
	int rc, part;

	memcpy(s, data, size);
	s[size] = '\0';
	second = memchr(s, '\0', size) ? s + strlen(s) + 1 : s + size;
	if (second > s + size)
		second = s + size;

	rc = url_parse(s, &u, a, &e);
	if (rc != 0) {
		if ((rc != ERR_INVAL && rc != ERR_TOOBIG) || e.msg[0] == '\0')
			fail("error without code or message");
	} else {
		check_url(&u);
		f1 = url_format(&u, a);
		if (f1 == NULL)
			fail("format");
		err_clear(&e);
		if (url_parse(f1, &u2, a, &e) != 0)
			fail("formatted URL does not parse");
		check_url(&u2);
		if (!same(u.host, u2.host) || u.port != u2.port || !same(u.path, u2.path) ||
		    !same(u.query, u2.query) || u.ipv6 != u2.ipv6)
			fail("format/parse round trip changed the URL");
		f2 = url_format(&u2, a);
		if (f2 == NULL || strcmp(f1, f2) != 0)
			fail("format is not a fixed point");
		if (url_hostport(&u, a) == NULL || url_host_header(&u, a) == NULL ||
		    url_request_target(&u, a) == NULL)
			fail("hostport/host header/target");
		err_clear(&e);
		if (url_resolve(f1, second, &out, a, &e) == 0) {
			err_clear(&e);
			if (url_parse(out, &u2, a, &e) != 0)
				fail("resolved URL does not parse");
		}
		err_clear(&e);
		if (u.query == NULL && url_join(f1, second, "https", &out, a, &e) == 0) {
			err_clear(&e);
			if (url_parse(out, &u2, a, &e) != 0)
				fail("joined URL does not parse");
		}
	}
	for (part = URL_PART_SEGMENT; part <= URL_PART_QUERY; part++) {
		size_t n = strlen(s);
		char *d;

		buf_init(&b, 0);
		if (url_encode(&b, s, n, (enum url_part)part, &e) != 0)
			fail("encode");
		d = url_decode(b.p ? b.p : "", b.len, false, a);
		if (d == NULL || strcmp(d, s) != 0)
			fail("decode(encode(s)) != s");
		buf_fini(&b);
	}
	arena_free(a);
	free(s);
	return 0;
}
