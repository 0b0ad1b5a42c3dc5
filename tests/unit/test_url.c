/* test_url.c -- URL parsing, formatting, joining, resolving and encoding. */
#include "net/url.h"
#include "tap.h"

static struct arena *A;

struct parse_case {
	const char *in;
	const char *scheme, *host;
	int port;
	bool port_explicit, ipv6;
	const char *user, *password, *path, *query;
};

static const struct parse_case good[] = {
	{ "http://example.com", "http", "example.com", 80, false, false, NULL, NULL, "/", NULL },
	{ "https://example.com/", "https", "example.com", 443, false, false, NULL, NULL, "/",
	    NULL },
	{ "HTTPS://User:p%40ss@EXAMPLE.com:8443/a/b?x=1#frag", "https", "example.com", 8443, true,
	    false, "User", "p@ss", "/a/b", "x=1" },
	{ "http://[::1]:8080/p", "http", "::1", 8080, true, true, NULL, NULL, "/p", NULL },
	{ "http://[2001:DB8::1]", "http", "2001:db8::1", 80, false, true, NULL, NULL, "/", NULL },
	{ "http://h:/p", "http", "h", 80, false, false, NULL, NULL, "/p", NULL },
	{ "http://127.0.0.1:1/", "http", "127.0.0.1", 1, true, false, NULL, NULL, "/", NULL },
	{ "http://h:65535", "http", "h", 65535, true, false, NULL, NULL, "/", NULL },
	{ "http://h/a b", "http", "h", 80, false, false, NULL, NULL, "/a%20b", NULL },
	{ "http://h/\xc3\xa9?q=\xc3\xa9", "http", "h", 80, false, false, NULL, NULL, "/%C3%A9",
	    "q=%C3%A9" },
	{ "http://h/%7e%2F?a=%20", "http", "h", 80, false, false, NULL, NULL, "/%7e%2F", "a=%20" },
	{ "http://h?x", "http", "h", 80, false, false, NULL, NULL, "/", "x" },
	{ "http://h?", "http", "h", 80, false, false, NULL, NULL, "/", "" },
	{ "http://h#frag?no", "http", "h", 80, false, false, NULL, NULL, "/", NULL },
	{ "  http://h/p  ", "http", "h", 80, false, false, NULL, NULL, "/p", NULL },
	{ "http://user@h/", "http", "h", 80, false, false, "user", NULL, "/", NULL },
	{ "http://a@b@h/", "http", "h", 80, false, false, "a@b", NULL, "/", NULL },
	{ "http://my_host-1.example/", "http", "my_host-1.example", 80, false, false, NULL, NULL,
	    "/", NULL },
	{ "http://h/a{b}|c", "http", "h", 80, false, false, NULL, NULL, "/a%7Bb%7D%7Cc", NULL },
};

static const char *const bad[] = { "", "   ", "example.com", "ftp://h/", "http:/h", "http://",
	"http:///p", "http://h:0/", "http://h:65536/", "http://h:12a/", "http://h:123456/",
	"http://[::1/", "http://[zz]/", "http://[]/", "http://h h/", "http://h/\x01",
	"http://h/%zz", "http://h/%4", "http://h/?q=%g0", "http://[::1]x/", "http://h\x7f/",
	"http://h/\x7f", "http://h%41/", "http://h:-1/", "http://u:%zz@h/", "http://u%00@h/" };

static bool
eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
test_parse(void)
{
	struct url u;
	struct err e;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct parse_case *c = &good[i];
		int rc;

		err_clear(&e);
		rc = url_parse(c->in, &u, A, &e);
		if (!ok(rc == 0, "parse \"%s\"", c->in)) {
			note("  %s", e.msg);
			continue;
		}
		ok(eq(u.scheme, c->scheme) && eq(u.host, c->host) && u.port == c->port &&
		        u.port_explicit == c->port_explicit && u.ipv6 == c->ipv6,
		    "parse \"%s\": scheme, host, port", c->in);
		ok(eq(u.user, c->user) && eq(u.password, c->password), "parse \"%s\": userinfo",
		    c->in);
		if (!ok(eq(u.path, c->path) && eq(u.query, c->query), "parse \"%s\": path, query",
		        c->in))
			note("  got path \"%s\" query \"%s\"", u.path,
			    u.query ? u.query : "(null)");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		err_clear(&e);
		rc = url_parse(bad[i], &u, A, &e);
		ok(rc == ERR_INVAL && e.msg[0] != '\0', "reject \"%s\"", bad[i]);
		if (rc == 0)
			note("  parsed as host \"%s\" path \"%s\"", u.host, u.path);
	}
	/* Messages must not quote userinfo or queries: they may carry tokens. */
	err_clear(&e);
	url_parse("http://user:SECRETPW@h:99999/?token=SECRETTOK", &u, A, &e);
	ok(strstr(e.msg, "SECRET") == NULL, "error message quotes no userinfo or query");
	err_clear(&e);
	url_parse("http://h/?token=SECRETTOK%zz", &u, A, &e);
	ok(e.code != 0 && strstr(e.msg, "SECRET") == NULL, "bad escape message quotes no query");
	/* Length caps. */
	{
		struct buf b;
		int j;

		buf_init(&b, 0);
		buf_puts(&b, "http://", NULL);
		for (j = 0; j < URL_HOST_BYTES_MAX + 1; j++)
			buf_putc(&b, 'a', NULL);
		err_clear(&e);
		ok(url_parse(b.p, &u, A, &e) == ERR_INVAL, "host over 255 bytes rejected");
		buf_reset(&b);
		buf_puts(&b, "http://h/", NULL);
		for (j = 0; j < URL_BYTES_MAX; j++)
			buf_putc(&b, 'p', NULL);
		err_clear(&e);
		ok(url_parse(b.p, &u, A, &e) == ERR_INVAL, "URL over 64 KiB rejected");
		buf_fini(&b);
	}
}

static void
test_format(void)
{
	struct url u;
	struct err e = { 0 };

	url_parse("HTTPS://u:p@H.example:443/p?q=1#f", &u, A, &e);
	is_str(url_format(&u, A), "https://h.example/p?q=1",
	    "format drops userinfo, "
	    "default port and fragment");
	is_str(url_hostport(&u, A), "h.example:443", "hostport always has the port");
	is_str(url_host_header(&u, A), "h.example", "Host header without the default port");
	is_str(url_request_target(&u, A), "/p?q=1", "request target");
	url_parse("http://[::1]:8080/x", &u, A, &e);
	is_str(url_format(&u, A), "http://[::1]:8080/x", "format IPv6 with port");
	is_str(url_hostport(&u, A), "[::1]:8080", "hostport IPv6");
	is_str(url_host_header(&u, A), "[::1]:8080", "Host header IPv6 with port");
	url_parse("http://h:443/", &u, A, &e);
	is_str(url_host_header(&u, A), "h:443", "port 443 is not the default for http");
	url_parse("http://h/?", &u, A, &e);
	is_str(url_request_target(&u, A), "/?", "empty query keeps its '?'");
}

struct join_case {
	const char *base, *path, *scheme, *want;
};

static const struct join_case joins[] = {
	{ "api.example.com:8080/prefix", "/v1/x?y=1", "http",
	    "http://api.example.com:8080/prefix/v1/x?y=1" },
	{ "https://h/prefix/", "files", NULL, "https://h/prefix/files" },
	{ "https://h/prefix//", "//files", NULL, "https://h/prefix/files" },
	{ "https://h", "/a", NULL, "https://h/a" },
	{ "h", "/a", NULL, "https://h/a" },
	{ "https://h", "?a=b", NULL, "https://h/?a=b" },
	{ "https://h/p", "?a=b", NULL, "https://h/p?a=b" },
	{ "https://h/p", "", NULL, "https://h/p" },
	{ "https://u:pw@h/p", "/x", NULL, "https://u:pw@h/p/x" },
	{ "http://[::1]:9/base", "/x", NULL, "http://[::1]:9/base/x" },
};

static void
test_join(void)
{
	struct err e;
	char *out;
	size_t i;

	for (i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
		const struct join_case *c = &joins[i];

		err_clear(&e);
		out = NULL;
		if (url_join(c->base, c->path, c->scheme, &out, A, &e) != 0)
			note("  %s", e.msg);
		is_str(out, c->want, "join \"%s\" + \"%s\"", c->base, c->path);
	}
	err_clear(&e);
	ok(url_join("https://h/p?q=1", "/x", NULL, &out, A, &e) == ERR_INVAL,
	    "join onto a base with a query is refused");
	err_clear(&e);
	ok(url_join("https://h/p", "/x y\x01", NULL, &out, A, &e) == ERR_INVAL,
	    "join with a control character is refused");
}

/* RFC 3986 §5.4.1 and §5.4.2. */
static const char *const resolve_cases[][2] = {
	{ "g", "http://a/b/c/g" },
	{ "./g", "http://a/b/c/g" },
	{ "g/", "http://a/b/c/g/" },
	{ "/g", "http://a/g" },
	{ "//g", "http://g/" },
	{ "?y", "http://a/b/c/d;p?y" },
	{ "g?y", "http://a/b/c/g?y" },
	{ "#s", "http://a/b/c/d;p?q" },
	{ "g#s", "http://a/b/c/g" },
	{ "g?y#s", "http://a/b/c/g?y" },
	{ ";x", "http://a/b/c/;x" },
	{ "g;x", "http://a/b/c/g;x" },
	{ "", "http://a/b/c/d;p?q" },
	{ ".", "http://a/b/c/" },
	{ "./", "http://a/b/c/" },
	{ "..", "http://a/b/" },
	{ "../", "http://a/b/" },
	{ "../g", "http://a/b/g" },
	{ "../..", "http://a/" },
	{ "../../", "http://a/" },
	{ "../../g", "http://a/g" },
	{ "../../../g", "http://a/g" },
	{ "../../../../g", "http://a/g" },
	{ "/./g", "http://a/g" },
	{ "/../g", "http://a/g" },
	{ "g.", "http://a/b/c/g." },
	{ ".g", "http://a/b/c/.g" },
	{ "g..", "http://a/b/c/g.." },
	{ "..g", "http://a/b/c/..g" },
	{ "./../g", "http://a/b/g" },
	{ "./g/.", "http://a/b/c/g/" },
	{ "g/./h", "http://a/b/c/g/h" },
	{ "g/../h", "http://a/b/c/h" },
	{ "g;x=1/./y", "http://a/b/c/g;x=1/y" },
	{ "g;x=1/../y", "http://a/b/c/y" },
	{ "g?y/./x", "http://a/b/c/g?y/./x" },
	{ "https://other:8443/x/../y", "https://other:8443/y" },
};

static void
test_resolve(void)
{
	struct err e;
	char *out;
	size_t i;

	for (i = 0; i < sizeof(resolve_cases) / sizeof(resolve_cases[0]); i++) {
		err_clear(&e);
		out = NULL;
		if (url_resolve("http://a/b/c/d;p?q", resolve_cases[i][0], &out, A, &e) != 0)
			note("  %s", e.msg);
		is_str(out, resolve_cases[i][1], "resolve \"%s\"", resolve_cases[i][0]);
	}
	err_clear(&e);
	ok(url_resolve("http://a/b", "ftp://x/y", &out, A, &e) == ERR_INVAL,
	    "resolve to a non-http scheme is refused");
	err_clear(&e);
	ok(url_resolve("http://a/b", "javascript:alert(1)", &out, A, &e) == ERR_INVAL,
	    "resolve to javascript: is refused");
}

static void
test_encode(void)
{
	struct buf b;
	struct err e = { 0 };
	char *d;

	buf_init(&b, 0);
	url_encode(&b, "a b/c~-._", 9, URL_PART_SEGMENT, &e);
	is_str(b.p, "a%20b%2Fc~-._", "encode segment");
	buf_reset(&b);
	url_encode(&b, "a b/c", 5, URL_PART_PATH, &e);
	is_str(b.p, "a%20b/c", "encode path keeps '/'");
	buf_reset(&b);
	url_encode(&b, "a&b=c+d#\xc3\xa9", 10, URL_PART_QUERY, &e);
	is_str(b.p, "a%26b%3Dc%2Bd%23%C3%A9", "encode query");
	buf_reset(&b);
	url_encode(&b, "\0x", 2, URL_PART_QUERY, &e);
	is_str(b.p, "%00x", "encode NUL");
	buf_reset(&b);
	url_query_add(&b, "k", "v", &e);
	url_query_add(&b, "path", "/a b&c", &e);
	is_str(b.p, "k=v&path=%2Fa%20b%26c", "query_add");
	buf_fini(&b);
	buf_init(&b, 4);
	err_clear(&e);
	ok(url_encode(&b, "abcdef", 6, URL_PART_PATH, &e) == ERR_TOOBIG,
	    "encode into a "
	    "capped buffer fails with too big");
	buf_fini(&b);

	d = url_decode("a%20b+c%2B", 10, true, A);
	is_str(d, "a b c+", "decode with plus as space");
	d = url_decode("a+b", 3, false, A);
	is_str(d, "a+b", "decode keeps '+'");
	ok(url_decode("%00", 3, false, A) == NULL, "decode refuses an encoded NUL");
	ok(url_decode("%4", 2, false, A) == NULL, "decode refuses a short escape");
	ok(url_decode("%g0", 3, false, A) == NULL, "decode refuses a bad escape");
	d = url_decode("", 0, false, A);
	is_str(d, "", "decode empty");
}

int
main(void)
{
	A = arena_new(64 << 20);
	test_parse();
	test_format();
	test_join();
	test_resolve();
	test_encode();
	arena_free(A);
	return done_testing();
}
