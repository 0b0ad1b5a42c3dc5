/*
 * fuzz_httpreq.c -- libFuzzer target for request heads to the sandbox's HTTP proxy
 * (hreq_parse and hreq_rewrite, src/backends/local/httpreq.c).
 *
 * Input: the bytes a client sends to the proxy. Checks (abort on violation):
 *  - hreq_parse gives 1, 0 or -1; 0 only below HREQ_HEAD_MAX bytes; -1 with a status of
 *    400, 405, 414, 431 or 501 and a reason;
 *  - a head (1) ends with LF within the input and HREQ_HEAD_MAX, holds no NUL and no CR
 *    but before LF, has a lower-case host (a name, a dotted quad or an IPv6 literal) and
 *    a port, and every shorter prefix of it wants more (0): no error is found early that
 *    the whole head does not have; bytes after the head change nothing;
 *  - hreq_rewrite of an absolute-form head, into caps from 0 up, never writes past cap,
 *    fits exactly its own length and no less, and gives a head of CRLF lines that starts
 *    "METHOD /", ends with Host and "Connection: close", and carries no proxy field.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/local/internal.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_httpreq: %s\n", what);
	abort();
}

static void
check_head(const char *buf, const struct hreq *r)
{
	size_t n = strlen(r->host);

	if (r->head_len < 4 || r->head_len > HREQ_HEAD_MAX || buf[r->head_len - 1] != '\n')
		fail("head length");
	if (memchr(buf, '\0', r->head_len) != NULL)
		fail("NUL in a head");
	for (size_t i = 0; i < r->head_len; i++)
		if (buf[i] == '\r' && buf[i + 1] != '\n')
			fail("bare CR in a head");
	if (n == 0 || n > NPOL_NAME_MAX || r->port == 0)
		fail("host or port");
	for (size_t i = 0; i < n; i++) {
		char c = r->host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        c == '.' || c == ':'))
			fail("host is not lower case");
	}
}

static void
check_rewrite(const char *buf, const struct hreq *r)
{
	/* LF to CRLF grows a head by a third at most; Host adds a target's length at most. */
	static char big[2 * HREQ_HEAD_MAX + 1024];
	long n = hreq_rewrite(buf, r, big, sizeof(big));
	char *out, *nl, *last, *sp;
	int hosts = 0, conns = 0;

	if (r->connect) {
		if (n != -1)
			fail("CONNECT rewritten");
		return;
	}
	if (n < 0)
		fail("an absolute-form head did not rewrite in 33 KiB");
	out = malloc((size_t)n); /* exactly n: ASan sees any overrun */
	if (hreq_rewrite(buf, r, out, (size_t)n) != n || memcmp(out, big, (size_t)n) != 0)
		fail("rewrite into its own length differs");
	if (hreq_rewrite(buf, r, out, (size_t)n - 1) != -1 || hreq_rewrite(buf, r, out, 0) != -1)
		fail("rewrite into a cap too small");
	free(out);
	big[n] = '\0';
	sp = strchr(big, ' ');
	if (strlen(big) != (size_t)n || sp == NULL || sp[1] != '/')
		fail("request line not in origin form");
	if (n < 4 || strstr(big, "\r\n\r\n") != big + n - 4)
		fail("head end");
	for (nl = strchr(big, '\n'); nl != NULL; nl = strchr(nl + 1, '\n'))
		if (nl[-1] != '\r')
			fail("bare LF written");
	for (char *p = strstr(big, "\r\n") + 2; *p; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, "Proxy-Connection:", 17) == 0 ||
		    strncasecmp(p, "Proxy-Authorization:", 20) == 0 ||
		    strncasecmp(p, "Keep-Alive:", 11) == 0)
			fail("a hop-by-hop field was forwarded");
		hosts += strncasecmp(p, "Host:", 5) == 0;
		conns += strncasecmp(p, "Connection:", 11) == 0;
	}
	if (hosts != 1 || conns != 1)
		fail("not exactly one Host and one Connection");
	last = big + n - 4;
	while (last > big && last[-1] != '\n')
		last--;
	if (strncmp(last, "Connection: close\r\n", 19) != 0)
		fail("Connection: close is not last");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	struct hreq r, r2;
	int rc;

	if (size > 2 * HREQ_HEAD_MAX)
		return 0;
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0'; /* for check_head's look one past a CR, never for the parser */
	rc = hreq_parse(buf, size, &r);
	if (rc == 0 && size >= HREQ_HEAD_MAX)
		fail("more wanted past the limit");
	if (rc == -1 &&
	    (r.why == NULL ||
	        (r.status != 400 && r.status != 405 && r.status != 414 && r.status != 431 &&
	            r.status != 501)))
		fail("error without status or reason");
	if (rc != 1 && rc != 0 && rc != -1)
		fail("return value");
	if (rc == 1) {
		check_head(buf, &r);
		if (hreq_parse(buf, r.head_len, &r2) != 1 || r2.head_len != r.head_len ||
		    strcmp(r2.host, r.host) != 0 || r2.port != r.port || r2.connect != r.connect)
			fail("bytes after the head changed it");
		for (size_t k = 0; k < r.head_len; k += 1 + k / 8)
			if (hreq_parse(buf, k, &r2) != 0)
				fail("a prefix of a head did not want more");
		check_rewrite(buf, &r);
	}
	free(buf);
	return 0;
}
