/*
 * test_local_httpreq.c -- request heads to the sandbox's HTTP proxy
 * (src/backends/local/httpreq.c): CONNECT and absolute-form requests, every malformed
 * form and the status it gets, the head limit, header injection, and the rewrite for the
 * origin server byte for byte. Every head is also fed at every length from the end of a
 * page with a PROT_NONE page after it: a valid head reads as "more" until its last byte.
 */
#include "backends/local/internal.h"

#include <stdlib.h>
#include <string.h>

#include "split.h"
#include "tap.h"

struct pcase {
	const char *name;
	const char *in;
	size_t len;   /* 0: strlen(in) */
	int rc;       /* of the whole input */
	int status;   /* rc -1 */
	bool connect; /* rc 1 */
	const char *host;
	int port;
	size_t body; /* rc 1: bytes after the head */
};

#define LIT(s) s, sizeof(s) - 1 /* in and len of a literal holding a NUL */

static const struct pcase cases[] = {
	{ "CONNECT host:443",
	    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
	    "User-Agent: curl/8.5.0\r\n\r\n",
	    0, 1, 0, true, "example.com", 443, 0 },
	{ "CONNECT [::1]:443", "CONNECT [::1]:443 HTTP/1.1\r\n\r\n", 0, 1, 0, true, "::1", 443, 0 },
	{ "CONNECT IPv6 upper case", "CONNECT [2001:DB8::A]:8443 HTTP/1.1\r\n\r\n", 0, 1, 0, true,
	    "2001:db8::a", 8443, 0 },
	{ "CONNECT IPv4, HTTP/1.0", "CONNECT 93.184.215.14:22 HTTP/1.0\r\n\r\n", 0, 1, 0, true,
	    "93.184.215.14", 22, 0 },
	{ "CONNECT name with case and a trailing dot",
	    "CONNECT Git.Example.ORG.:65535 "
	    "HTTP/1.1\r\n\r\n",
	    0, 1, 0, true, "git.example.org", 65535, 0 },
	{ "CONNECT with TLS bytes behind", "CONNECT a.b:443 HTTP/1.1\r\n\r\n\x16\x03\x01", 0, 1, 0,
	    true, "a.b", 443, 3 },
	{ "absolute GET with query, default port",
	    "GET http://Example.com/a/b?x=1&y=%20 "
	    "HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n"
	    "\r\n",
	    0, 1, 0, false, "example.com", 80, 0 },
	{ "absolute, port, no path", "GET http://example.com:8080 HTTP/1.1\r\n\r\n", 0, 1, 0, false,
	    "example.com", 8080, 0 },
	{ "absolute, query without path", "HEAD http://x.y?q HTTP/1.0\r\n\r\n", 0, 1, 0, false,
	    "x.y", 80, 0 },
	{ "scheme in upper case, IPv6",
	    "POST HTTP://[fe80::1]:8000/api HTTP/1.1\r\n"
	    "Content-Length: 2\r\n\r\nhi",
	    0, 1, 0, false, "fe80::1", 8000, 2 },
	{ "other methods are tokens", "PROPFIND http://dav.example/d/ HTTP/1.1\r\n\r\n", 0, 1, 0,
	    false, "dav.example", 80, 0 },
	{ "bare LF", "GET http://a.example/ HTTP/1.1\nHost: a.example\nAccept: */*\n\n", 0, 1, 0,
	    false, "a.example", 80, 0 },
	{ "mixed line ends", "GET http://a.example/ HTTP/1.1\r\nA: 1\nB: 2\r\n\n", 0, 1, 0, false,
	    "a.example", 80, 0 },
	{ "obs-text, tabs, empty value",
	    "GET http://h/ HTTP/1.1\r\nX-A:\t\xc3\xa9 t\t\r\n"
	    "X-B:\r\n\r\n",
	    0, 1, 0, false, "h", 80, 0 },
	{ "underscore in a name", "GET http://my_host.internal/ HTTP/1.1\r\n\r\n", 0, 1, 0, false,
	    "my_host.internal", 80, 0 },
	{ "Connection options",
	    "GET http://h/ HTTP/1.1\r\nConnection: keep-alive, ,Upgrade "
	    ",\r\n\r\n",
	    0, 1, 0, false, "h", 80, 0 },
	/* incomplete */
	{ "no empty line yet", "GET http://x/ HTTP/1.1\r\nHost: x\r\n", 0, 0, 0, false, NULL, 0,
	    0 },
	{ "nothing yet", "", 0, 0, 0, false, NULL, 0, 0 },
	/* what is not proxied */
	{ "https:// absolute", "GET https://example.com/ HTTP/1.1\r\n\r\n", 0, -1, 501, false, NULL,
	    0, 0 },
	{ "ftp:// absolute", "GET ftp://example.com/f HTTP/1.1\r\n\r\n", 0, -1, 501, false, NULL, 0,
	    0 },
	{ "origin-form", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "asterisk-form", "OPTIONS * HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "authority-form without CONNECT", "GET example.com:443 HTTP/1.1\r\n\r\n", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "connect is case-sensitive", "connect example.com:443 HTTP/1.1\r\n\r\n", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "CONNECT absolute-form", "CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "CONNECT without port", "CONNECT example.com HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "CONNECT empty port", "CONNECT example.com: HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "CONNECT port 0", "CONNECT example.com:0 HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "CONNECT port 65536", "CONNECT example.com:65536 HTTP/1.1\r\n\r\n", 0, -1, 400, false,
	    NULL, 0, 0 },
	{ "CONNECT port of six digits", "CONNECT example.com:000443 HTTP/1.1\r\n\r\n", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "CONNECT port with a letter", "CONNECT example.com:44a HTTP/1.1\r\n\r\n", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "CONNECT IPv6 without brackets", "CONNECT ::1:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false,
	    NULL, 0, 0 },
	{ "CONNECT bad IPv6", "CONNECT [::g]:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "CONNECT IPv6 zone", "CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false,
	    NULL, 0, 0 },
	{ "CONNECT unclosed bracket", "CONNECT [::1:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "CONNECT junk after bracket", "CONNECT [::1]x:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false,
	    NULL, 0, 0 },
	{ "userinfo", "GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "userinfo in CONNECT", "CONNECT u@example.com:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false,
	    NULL, 0, 0 },
	{ "fragment", "GET http://example.com/#top HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "empty host", "GET http:///x HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "empty label", "GET http://a..b/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "leading dot", "GET http://.a/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "percent in host", "GET http://exa%6dple.com/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "short IPv4 form", "GET http://127.1/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "hex IPv4 form", "GET http://0x7f.0.0.1/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "hex last label", "GET http://a.0x7f/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "decimal IPv4 form", "CONNECT 2130706433:443 HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "octet over 255", "GET http://256.1.1.1/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "HTTP/2.0", "GET http://x/ HTTP/2.0\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "HTTP/1.1 and a space", "GET http://x/ HTTP/1.1 \r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "http/1.1", "GET http://x/ http/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "no version", "GET http://x/\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "two spaces", "GET  http://x/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "tab for space", "GET\thttp://x/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "non-ASCII in target", "GET http://x/\xc3\xa9 HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "empty request line", "\r\nGET http://x/ HTTP/1.1\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "obs-fold", "GET http://x/ HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "CR inside a value (injection)", "GET http://x/ HTTP/1.1\r\nA: b\rHost: evil\r\n\r\n", 0,
	    -1, 400, false, NULL, 0, 0 },
	{ "CR CR LF", "GET http://x/ HTTP/1.1\r\nA: b\r\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "NUL in a value", LIT("GET http://x/ HTTP/1.1\r\nA: b\0c\r\n\r\n"), -1, 400, false, NULL,
	    0, 0 },
	{ "NUL in the target", LIT("GET http://x/\0 HTTP/1.1\r\n\r\n"), -1, 400, false, NULL, 0,
	    0 },
	{ "DEL in a value", "GET http://x/ HTTP/1.1\r\nA: \x7f\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "space before colon", "GET http://x/ HTTP/1.1\r\nA : b\r\n\r\n", 0, -1, 400, false, NULL,
	    0, 0 },
	{ "no colon", "GET http://x/ HTTP/1.1\r\nAbc\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "empty name", "GET http://x/ HTTP/1.1\r\n: b\r\n\r\n", 0, -1, 400, false, NULL, 0, 0 },
	{ "bad name char", "GET http://x/ HTTP/1.1\r\nA(b: c\r\n\r\n", 0, -1, 400, false, NULL, 0,
	    0 },
	{ "Connection with a non-token", "GET http://x/ HTTP/1.1\r\nConnection: a b\r\n\r\n", 0, -1,
	    400, false, NULL, 0, 0 },
	/* early errors: the head is not whole yet */
	{ "TLS sent to the proxy", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "a bad request line before the rest", "GET http://x/ HTTP/9.9\r\nHost: x\r\n", 0, -1, 400,
	    false, NULL, 0, 0 },
	{ "a leading space", " GET", 0, -1, 400, false, NULL, 0, 0 },
};

static void
check_case(const struct pcase *c)
{
	size_t len = c->len ? c->len : strlen(c->in);
	const char *g = guard_copy(c->in, len);
	struct hreq r;
	int rc = hreq_parse(g, len, &r);
	bool good = rc == c->rc;

	if (good && rc == 1)
		good = r.connect == c->connect && strcmp(r.host, c->host) == 0 &&
		    r.port == c->port && r.head_len == len - c->body && r.status == 0;
	if (good && rc == -1)
		good = r.status == c->status && r.why != NULL && r.why[0] != '\0';
	if (!ok(good, "%s", c->name)) {
		note("  rc %d status %d why %s connect %d host \"%s\" port %u head_len %zu", rc,
		    r.status, r.why ? r.why : "(null)", r.connect, rc == 1 ? r.host : "", r.port,
		    r.head_len);
	}
	guard_retire();
}

/* A whole head at every shorter length: "more", never an error or a head. */
static void
check_prefixes(const struct pcase *c)
{
	size_t len = c->len ? c->len : strlen(c->in);
	struct hreq r;

	for (size_t k = 0; k < len - c->body; k++) {
		const char *g = guard_copy(c->in, k);
		int rc = hreq_parse(g, k, &r);

		guard_retire();
		if (rc != 0) {
			ok(0, "%s: every prefix wants more", c->name);
			note("  prefix of %zu bytes: rc %d status %d (%s)", k, rc, r.status,
			    r.why ? r.why : "");
			return;
		}
	}
	ok(1, "%s: every prefix wants more", c->name);
}

static void
test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_case(&cases[i]);
		if (cases[i].rc == 1)
			check_prefixes(&cases[i]);
	}
}

static void
test_why(void)
{
	struct hreq r;
	const char *in = "GET https://example.com/ HTTP/1.1\r\n\r\n";

	hreq_parse(in, strlen(in), &r);
	is_str(r.why, "use CONNECT for https", "https:// says to use CONNECT");
}

/* A head of n bytes: a request line, filler header lines, and the empty line when end
 * is set (n - 26 - (end ? 2 : 0) must not be 1, 2 or 3). */
static char *
big_head(size_t n, bool end)
{
	static const char line[] = "GET http://x/ HTTP/1.1\r\n";
	char *h = malloc(n + 1);
	size_t k = sizeof(line) - 1, left = n - k - (end ? 2 : 0);

	memcpy(h, line, k);
	while (left > 0) {
		size_t chunk = left > 64 ? 60 : left; /* "X:", chunk - 4 bytes, CRLF */

		memcpy(h + k, "X:", 2);
		memset(h + k + 2, 'v', chunk - 4);
		memcpy(h + k + chunk - 2, "\r\n", 2);
		k += chunk;
		left -= chunk;
	}
	if (end) {
		memcpy(h + k, "\r\n", 2);
		k += 2;
	}
	h[k] = '\0';
	return h;
}

static void
test_limits(void)
{
	struct hreq r;
	char *h, *t;
	size_t n;

	h = big_head(HREQ_HEAD_MAX, true);
	n = strlen(h);
	ok(n == HREQ_HEAD_MAX && hreq_parse(h, n, &r) == 1 && r.head_len == n,
	    "a head of exactly %d bytes is taken", HREQ_HEAD_MAX);
	free(h);
	h = big_head(HREQ_HEAD_MAX + 1, true);
	n = strlen(h);
	ok(n == HREQ_HEAD_MAX + 1 && hreq_parse(h, n, &r) == -1 && r.status == 431,
	    "one byte more: 431");
	free(h);
	h = big_head(HREQ_HEAD_MAX, false);
	n = strlen(h);
	ok(hreq_parse(h, n - 1, &r) == 0, "no end within %d bytes: more", HREQ_HEAD_MAX - 1);
	ok(hreq_parse(h, n, &r) == -1 && r.status == 431, "no end within %d bytes: 431",
	    HREQ_HEAD_MAX);
	free(h);

	t = malloc(HREQ_HEAD_MAX + 64);
	memcpy(t, "GET http://x/", 13);
	memset(t + 13, 'a', 4 + 8192 - 13); /* the target starts at offset 4 */
	strcpy(t + 4 + 8192, " HTTP/1.1\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == 1, "a target of 8192 bytes is taken");
	strcpy(t + 4 + 8192, "a HTTP/1.1\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == -1 && r.status == 414, "8193 bytes: 414");
	memset(t + 4 + 8192, 'a', 100);
	ok(hreq_parse(t, 4 + 8192 + 100, &r) == -1 && r.status == 414,
	    "  and as soon as it shows, before its line ends");
	ok(hreq_parse(t, 4 + 8192, &r) == 0, "  but not before");
	free(t);

	t = malloc(600);
	memcpy(t, "GET http://", 11);
	memset(t + 11, 'a', 254);
	for (int i = 1; i < 4; i++)
		t[11 + 63 * i + i - 1] = '.';
	strcpy(t + 11 + 253, "/ HTTP/1.1\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == 1 && strlen(r.host) == 253,
	    "a host of 253 characters is taken");
	t[11 + 253] = 'a';
	strcpy(t + 11 + 254, "/ HTTP/1.1\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == -1 && r.status == 400, "254 characters: 400");
	memcpy(t + 11, "a.", 2);
	memset(t + 13, 'b', 64);
	strcpy(t + 13 + 64, "/ HTTP/1.1\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == -1 && r.status == 400, "a label of 64: 400");
	free(t);

	t = malloc(2048);
	strcpy(t, "GET http://h/ HTTP/1.1\r\nConnection: ");
	for (int i = 0; i < 33; i++)
		strcat(t, i ? ",o" : "o");
	strcat(t, "\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == -1 && r.status == 400, "33 Connection options: 400");
	strcpy(strstr(t, ",o\r\n"), "\r\n\r\n");
	ok(hreq_parse(t, strlen(t), &r) == 1, "32 are taken");
	free(t);
}

struct rcase {
	const char *name, *in, *out;
};

static const struct rcase rcases[] = {
	{ "hop-by-hop fields dropped, Host from the URI",
	    "GET http://Example.com/a/b?x=1 HTTP/1.1\r\nHost: evil.example\r\n"
	    "User-Agent: curl/8.5.0\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n"
	    "Proxy-Authorization: Basic eDp5\r\nhost: again\r\n\r\n",
	    "GET /a/b?x=1 HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"
	    "Host: Example.com\r\nConnection: close\r\n\r\n" },
	{ "HTTP/1.0, no path, bare LF", "GET http://example.com HTTP/1.0\nAccept: */*\n\n",
	    "GET / HTTP/1.0\r\nAccept: */*\r\nHost: example.com\r\nConnection: close\r\n\r\n" },
	{ "a query without a path, a port", "GET http://example.com:8080?q=1 HTTP/1.1\r\n\r\n",
	    "GET /?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n" },
	{ "Connection-listed fields dropped, framing kept",
	    "POST http://[::1]:8000/api HTTP/1.1\r\nConnection: keep-alive, X-Secret, Upgrade,"
	    " Content-Length\r\nX-Secret: s\r\nx-secret: s2\r\nUpgrade: websocket\r\n"
	    "Keep-Alive: timeout=5\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
	    "Connection: TE\r\nTE: trailers\r\nX-Secret-Not: kept\r\n\r\nhi",
	    "POST /api HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
	    "X-Secret-Not: kept\r\nHost: [::1]:8000\r\nConnection: close\r\n\r\n" },
	{ "HTTP/1.7 goes out as 1.1, values verbatim",
	    "PUT http://h/x HTTP/1.7\r\nX-A:\t\xc3\xa9 t\t\r\nX-B:\r\n\r\n",
	    "PUT /x HTTP/1.1\r\nX-A:\t\xc3\xa9 t\t\r\nX-B:\r\nHost: h\r\nConnection: close\r\n"
	    "\r\n" },
};

static void
test_rewrite(void)
{
	char out[1024];
	struct hreq r;
	long n;
	const char *in;

	for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		const struct rcase *c = &rcases[i];
		size_t want = strlen(c->out);
		bool small = true;

		if (hreq_parse(c->in, strlen(c->in), &r) != 1) {
			ok(0, "rewrite: %s (parse failed: %s)", c->name, r.why);
			continue;
		}
		n = hreq_rewrite(c->in, &r, out, sizeof(out));
		if (!ok(n == (long)want && memcmp(out, c->out, want) == 0, "rewrite: %s", c->name))
			note("  got %ld: \"%.*s\"", n, n > 0 ? (int)n : 0, out);
		for (size_t cap = 0; cap < want; cap++)
			small = small && hreq_rewrite(c->in, &r, out, cap) == -1;
		ok(small && hreq_rewrite(c->in, &r, out, want) == (long)want,
		    "  every cap short of %zu bytes: -1; exactly: fits", want);
	}
	in = "CONNECT a:443 HTTP/1.1\r\n\r\n";
	hreq_parse(in, strlen(in), &r);
	is_int(hreq_rewrite(in, &r, out, sizeof(out)), -1, "CONNECT has nothing to rewrite");
	memset(&r, 0, sizeof(r));
	is_int(hreq_rewrite(in, &r, out, sizeof(out)), -1, "nor has a head not parsed");
}

int
main(void)
{
	test_cases();
	test_why();
	test_limits();
	test_rewrite();
	return done_testing();
}
