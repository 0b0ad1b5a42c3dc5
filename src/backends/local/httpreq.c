/*
 * httpreq.c -- the head of a request to a sandbox's HTTP proxy: parse it, and rewrite an
 * absolute-form request for the origin server (RFC 9110, RFC 9112).
 *
 * Pure text: no system calls but inet_pton, no allocation. The head is untrusted (any
 * process in the sandbox may send one) and what this file accepts decides which host the
 * relay judges and dials, so it is strict where leniency could make two readers disagree:
 * no control characters anywhere, no obs-fold (RFC 9112 §5.2 lets a proxy reject it), no
 * userinfo, no fragment, and a host is a host name, a dotted-quad IPv4 address or a
 * bracketed IPv6 literal. A name that ends in a number must be a dotted quad (as the
 * WHATWG URL standard reads it), so "127.1" or "0x7f.1" never reach a resolver that
 * would take them for an address.
 *
 * Bare LF ends a line as CRLF does (RFC 9112 §2.2). Errors are found as early as the bytes
 * allow: a bad request line fails once it is whole, a bad method or an overlong target as
 * soon as it shows, the rest once the head is whole. Any token method other than CONNECT
 * is proxied in absolute form, so 405 is never given.
 *
 * The rewrite keeps the client's HTTP/1.0 or 1.1 (a 1.0 client could not read the chunked
 * reply a 1.1 request may get), takes Host from the URI (RFC 9112 §3.2.2), drops the
 * hop-by-hop fields and those the Connection header names (never Content-Length or
 * Transfer-Encoding: they frame the body that follows), and ends with Connection: close.
 * Lines go out with CRLF, field values as received. The Connection header may name at
 * most HREQ_CONN_OPTIONS_MAX options, so the rewrite holds them on the stack.
 */
#include "backends/local/internal.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#define HREQ_TARGET_MAX       8192 /* longer request targets get 414 */
#define HREQ_CONN_OPTIONS_MAX 32   /* tokens in Connection headers, all told */
#define HREQ_LABEL_MAX        63

/* The parts of a request line; slices into the caller's buffer. */
struct hreq_line {
	const char *method, *target, *auth, *rest; /* rest: path and query, maybe "" */
	size_t mlen, tlen, alen, rlen;
	char minor; /* of HTTP/1.x */
};

static int
hreq_fail(struct hreq *r, int status, const char *why)
{
	r->status = status;
	r->why = why;
	return -1;
}

/* RFC 9110 §5.6.2 tchar. */
static bool
hreq_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
hreq_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
hreq_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
hreq_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
}

static bool
hreq_is(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

/* The line at buf[*pos..end) without its LF or CRLF; advances *pos past it. false when
 * no whole line is left. */
static bool
hreq_next_line(const char *buf, size_t end, size_t *pos, const char **lp, size_t *ll)
{
	const char *nl;

	if (*pos >= end || (nl = memchr(buf + *pos, '\n', end - *pos)) == NULL)
		return false;
	*lp = buf + *pos;
	*ll = (size_t)(nl - *lp);
	if (*ll > 0 && (*lp)[*ll - 1] == '\r')
		(*ll)--;
	*pos = (size_t)(nl - buf) + 1;
	return true;
}

/* Where the head ends: past the first empty line within buf[0..n), or 0. */
static size_t
hreq_head_end(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (end - p >= 2 && p[1] == '\n')
			return (size_t)(p - buf) + 2;
		if (end - p >= 3 && p[1] == '\r' && p[2] == '\n')
			return (size_t)(p - buf) + 3;
		p++;
	}
	return 0;
}

/* A host name (RFC 1123 letters, digits, '-', plus '_' as DNS allows) or a dotted-quad
 * IPv4 address into r->host, lower case, one trailing dot dropped. */
static int
hreq_host_name(const char *h, size_t n, struct hreq *r)
{
	size_t lab = 0, last = 0;
	bool numeric = true;
	struct in_addr a;

	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n == 0 || n > NPOL_NAME_MAX)
		return hreq_fail(r, 400, "the host is empty or longer than 253 characters");
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (lab == 0)
				return hreq_fail(r, 400, "the host has an empty label");
			lab = 0;
			last = i + 1;
			numeric = true;
		} else if (hreq_alpha((unsigned char)c) || hreq_digit((unsigned char)c) ||
		    c == '-' || c == '_') {
			if (++lab > HREQ_LABEL_MAX)
				return hreq_fail(r, 400, "a label of the host is over 63 bytes");
			numeric = numeric && hreq_digit((unsigned char)c);
		} else {
			return hreq_fail(r, 400, "the host is not a host name or an address");
		}
		r->host[i] = hreq_lower(c);
	}
	if (lab == 0)
		return hreq_fail(r, 400, "the host has an empty label");
	r->host[n] = '\0';
	if (n - last >= 2 && r->host[last] == '0' && r->host[last + 1] == 'x')
		numeric = true; /* "0x7f": hexadecimal, to inet_aton */
	if (numeric && inet_pton(AF_INET, r->host, &a) != 1)
		return hreq_fail(r, 400, "the host is a number but not a dotted-quad address");
	return 0;
}

/* An IPv6 literal (the text between the brackets) into r->host, lower case. */
static int
hreq_host_v6(const char *h, size_t n, struct hreq *r)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n == 0 || n >= sizeof(tmp))
		return hreq_fail(r, 400, "the host is not a valid IPv6 address");
	for (size_t i = 0; i < n; i++)
		tmp[i] = hreq_lower(h[i]);
	tmp[n] = '\0';
	if (inet_pton(AF_INET6, tmp, &a) != 1)
		return hreq_fail(r, 400, "the host is not a valid IPv6 address");
	memcpy(r->host, tmp, n + 1);
	return 0;
}

/* host[:port] into r->host and r->port; dflt 0 makes the port required (CONNECT). */
static int
hreq_authority(const char *a, size_t n, uint16_t dflt, struct hreq *r)
{
	const char *colon;
	unsigned long port = 0;

	if (memchr(a, '@', n) != NULL)
		return hreq_fail(r, 400, "credentials (userinfo) in the request target");
	if (n > 0 && a[0] == '[') {
		const char *rb = memchr(a, ']', n);

		if (rb == NULL)
			return hreq_fail(r, 400, "the IPv6 address lacks its ']'");
		colon = rb + 1 < a + n ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return hreq_fail(r, 400, "junk after the IPv6 address");
		if (hreq_host_v6(a + 1, (size_t)(rb - a) - 1, r) != 0)
			return -1;
	} else {
		size_t hlen;

		colon = memchr(a, ':', n);
		hlen = colon != NULL ? (size_t)(colon - a) : n;
		if (colon != NULL && memchr(colon + 1, ':', n - hlen - 1) != NULL)
			return hreq_fail(r, 400, "an IPv6 address must be in brackets");
		if (hreq_host_name(a, hlen, r) != 0)
			return -1;
	}
	if (colon == NULL) {
		if (dflt == 0)
			return hreq_fail(r, 400, "CONNECT needs host:port");
		r->port = dflt;
		return 0;
	}
	for (const char *p = colon + 1; p < a + n; p++) {
		if (!hreq_digit((unsigned char)*p) || p - colon > 5)
			return hreq_fail(r, 400, "the port is not a number from 1 to 65535");
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return hreq_fail(r, 400, "the port is not a number from 1 to 65535");
	r->port = (uint16_t)port;
	return 0;
}

/* The request target of a method other than CONNECT: an absolute http:// URI. */
static int
hreq_absolute(struct hreq_line *l, struct hreq *r)
{
	const char *t = l->target, *end = t + l->tlen, *p = t;

	if (t[0] == '/')
		return hreq_fail(r, 400, "origin-form target: a proxy needs the full URI");
	if (memchr(t, '#', l->tlen) != NULL)
		return hreq_fail(r, 400, "a request target has no fragment");
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 §3.1 */
	if (hreq_alpha((unsigned char)*p)) {
		for (p++; p < end &&
		     (hreq_alpha((unsigned char)*p) || hreq_digit((unsigned char)*p) || *p == '+' ||
		         *p == '-' || *p == '.');
		     p++)
			;
	}
	if (p == t || end - p < 3 || memcmp(p, "://", 3) != 0)
		return hreq_fail(r, 400, "the request target is not an absolute http:// URI");
	if (hreq_is(t, (size_t)(p - t), "https"))
		return hreq_fail(r, 501, "use CONNECT for https");
	if (!hreq_is(t, (size_t)(p - t), "http"))
		return hreq_fail(r, 501, "only http:// URIs are proxied");
	l->auth = p + 3;
	for (p = l->auth; p < end && *p != '/' && *p != '?'; p++)
		;
	l->alen = (size_t)(p - l->auth);
	l->rest = p;
	l->rlen = (size_t)(end - p);
	return hreq_authority(l->auth, l->alen, 80, r);
}

/* METHOD SP target SP HTTP/1.x, without its line end, into l and r. */
static int
hreq_request_line(const char *s, size_t n, struct hreq_line *l, struct hreq *r)
{
	size_t i = 0;

	memset(l, 0, sizeof(*l));
	while (i < n && hreq_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i == n || s[i] != ' ')
		return hreq_fail(r, 400, "malformed request line");
	l->method = s;
	l->mlen = i++;
	l->target = s + i;
	while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
		i++;
	l->tlen = (size_t)(s + i - l->target);
	if (l->tlen > HREQ_TARGET_MAX)
		return hreq_fail(r, 414, "the request target is over 8 KiB");
	if (l->tlen == 0 || n - i != 9 || memcmp(s + i, " HTTP/1.", 8) != 0 ||
	    !hreq_digit((unsigned char)s[i + 8]))
		return hreq_fail(r, 400, "malformed request line (HTTP/1.x expected)");
	l->minor = s[i + 8];
	/* Methods are case-sensitive (RFC 9110 §9.1): "connect" is not CONNECT. */
	r->connect = l->mlen == 7 && memcmp(l->method, "CONNECT", 7) == 0;
	if (r->connect)
		return hreq_authority(l->target, l->tlen, 0, r);
	return hreq_absolute(l, r);
}

/* The first line while the head is still incomplete: what can be judged already. */
static int
hreq_early(const char *buf, size_t len, struct hreq *r)
{
	const char *nl = memchr(buf, '\n', len);
	struct hreq_line l;
	size_t i = 0, t;

	if (nl != NULL) {
		size_t n = (size_t)(nl - buf);

		return hreq_request_line(buf, n > 0 && buf[n - 1] == '\r' ? n - 1 : n, &l, r);
	}
	while (i < len && buf[i] != ' ') {
		if (!hreq_tchar((unsigned char)buf[i++]))
			return hreq_fail(r, 400, "malformed request line");
	}
	if (i == len)
		return 0;
	if (i == 0)
		return hreq_fail(r, 400, "malformed request line");
	for (t = ++i; i < len && buf[i] != ' '; i++) {
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
			return hreq_fail(r, 400, "malformed request line");
	}
	if (i - t > HREQ_TARGET_MAX)
		return hreq_fail(r, 414, "the request target is over 8 KiB");
	return 0;
}

/* The next element of a Connection list at v[*i..n): 1 with a token, 0 at the end, -1
 * when the list is not tokens separated by commas (RFC 9110 §5.6.1, §7.6.1). */
static int
hreq_next_option(const char *v, size_t n, size_t *i, const char **tp, size_t *tl)
{
	size_t k = *i;

	while (k < n && (v[k] == ' ' || v[k] == '\t' || v[k] == ','))
		k++;
	*i = k;
	if (k == n)
		return 0;
	*tp = v + k;
	while (k < n && hreq_tchar((unsigned char)v[k]))
		k++;
	*tl = (size_t)(v + k - *tp);
	while (k < n && (v[k] == ' ' || v[k] == '\t'))
		k++;
	if (*tl == 0 || (k < n && v[k] != ','))
		return -1;
	*i = k;
	return 1;
}

/* The length of a header line's name, or 0 when the line is not "name:" and a value. */
static size_t
hreq_field_name(const char *lp, size_t ll)
{
	size_t i = 0;

	while (i < ll && hreq_tchar((unsigned char)lp[i]))
		i++;
	return i > 0 && i < ll && lp[i] == ':' ? i : 0;
}

static int
hreq_fields(const char *buf, size_t pos, size_t end, struct hreq *r)
{
	const char *lp, *tp;
	size_t ll, nlen, options = 0;

	while (hreq_next_line(buf, end, &pos, &lp, &ll) && ll > 0) {
		if (lp[0] == ' ' || lp[0] == '\t')
			return hreq_fail(r, 400, "obs-fold (a header line continued) is refused");
		if ((nlen = hreq_field_name(lp, ll)) == 0)
			return hreq_fail(r, 400, "malformed header line (name: value expected)");
		for (size_t i = nlen + 1; i < ll; i++) {
			unsigned char c = (unsigned char)lp[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return hreq_fail(r, 400, "a control character in a header");
		}
		if (hreq_is(lp, nlen, "Connection")) {
			size_t i = 0, tl;
			int rc;

			while ((rc = hreq_next_option(lp + nlen + 1, ll - nlen - 1, &i, &tp,
			            &tl)) == 1) {
				if (++options > HREQ_CONN_OPTIONS_MAX)
					return hreq_fail(r, 400, "too many Connection options");
			}
			if (rc < 0)
				return hreq_fail(r, 400, "malformed Connection header");
		}
	}
	return 0;
}

int
hreq_parse(const char *buf, size_t len, struct hreq *r)
{
	struct hreq_line l;
	const char *lp;
	size_t end, pos = 0, ll;

	memset(r, 0, sizeof(*r));
	end = hreq_head_end(buf, len < HREQ_HEAD_MAX ? len : HREQ_HEAD_MAX);
	if (end == 0) {
		if (hreq_early(buf, len, r) != 0)
			return -1;
		if (len >= HREQ_HEAD_MAX)
			return hreq_fail(r, 431, "the request head is over 16 KiB");
		return 0;
	}
	/* A NUL cannot hide in a line: every byte of the head is checked below. */
	if (!hreq_next_line(buf, end, &pos, &lp, &ll) || hreq_request_line(lp, ll, &l, r) != 0 ||
	    hreq_fields(buf, pos, end, r) != 0) {
		if (r->status == 0)
			hreq_fail(r, 400, "malformed request line");
		return -1;
	}
	r->head_len = end;
	return 1;
}

/* ---- the rewrite -------------------------------------------------------------------- */

struct hreq_opt {
	const char *p;
	size_t len;
};

struct hreq_out {
	char *p;
	size_t n, cap;
	bool over;
};

static void
hreq_put(struct hreq_out *o, const char *s, size_t n)
{
	if (o->over || n > o->cap - o->n) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
hreq_puts(struct hreq_out *o, const char *s)
{
	hreq_put(o, s, strlen(s));
}

/* The options of the head's Connection headers (at most HREQ_CONN_OPTIONS_MAX, as
 * hreq_parse allows): their number, or -1. */
static int
hreq_options(const char *buf, size_t pos, size_t end, struct hreq_opt *opt)
{
	const char *lp;
	size_t ll, nlen, i;
	int n = 0, rc;

	while (hreq_next_line(buf, end, &pos, &lp, &ll) && ll > 0) {
		if ((nlen = hreq_field_name(lp, ll)) == 0)
			return -1;
		if (!hreq_is(lp, nlen, "Connection"))
			continue;
		i = 0;
		while ((rc = hreq_next_option(lp + nlen + 1, ll - nlen - 1, &i, &opt[n].p,
		            &opt[n].len)) == 1) {
			if (++n == HREQ_CONN_OPTIONS_MAX + 1)
				return -1;
		}
		if (rc < 0)
			return -1;
	}
	return n;
}

/* Whether the field named n[0..nlen) stops at the proxy: hop-by-hop (RFC 9110 §7.6.1),
 * Host (rewritten from the URI), or named by a Connection option. The framing fields
 * stay even when named there, so the body cannot turn into a request of its own. */
static bool
hreq_dropped(const char *n, size_t nlen, const struct hreq_opt *opt, int nopt)
{
	static const char *const drop[] = { "Host", "Connection", "Proxy-Connection",
		"Proxy-Authorization", "Keep-Alive" };

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (hreq_is(n, nlen, drop[i]))
			return true;
	if (hreq_is(n, nlen, "Content-Length") || hreq_is(n, nlen, "Transfer-Encoding"))
		return false;
	for (int i = 0; i < nopt; i++)
		if (opt[i].len == nlen && strncasecmp(opt[i].p, n, nlen) == 0)
			return true;
	return false;
}

long
hreq_rewrite(const char *buf, const struct hreq *r, char *out, size_t cap)
{
	struct hreq_out o = { out, 0, cap, false };
	struct hreq_opt opt[HREQ_CONN_OPTIONS_MAX + 1];
	struct hreq_line l;
	struct hreq tmp;
	const char *lp;
	size_t pos = 0, ll, nlen;
	char version[] = "HTTP/1.1";
	int nopt;

	if (r->connect || r->head_len == 0 || r->head_len > HREQ_HEAD_MAX)
		return -1;
	memset(&tmp, 0, sizeof(tmp));
	if (!hreq_next_line(buf, r->head_len, &pos, &lp, &ll) ||
	    hreq_request_line(lp, ll, &l, &tmp) != 0 || tmp.connect)
		return -1;
	if ((nopt = hreq_options(buf, pos, r->head_len, opt)) < 0)
		return -1;
	/* The client's version, so a 1.0 client gets no chunked reply; 1.2 and on read as 1.1
	 * (RFC 9110 §2.5). */
	version[7] = l.minor > '1' ? '1' : l.minor;
	hreq_put(&o, l.method, l.mlen);
	hreq_puts(&o, " ");
	if (l.rlen == 0 || l.rest[0] != '/')
		hreq_puts(&o, "/");
	hreq_put(&o, l.rest, l.rlen);
	hreq_puts(&o, " ");
	hreq_puts(&o, version);
	hreq_puts(&o, "\r\n");
	while (hreq_next_line(buf, r->head_len, &pos, &lp, &ll) && ll > 0) {
		if ((nlen = hreq_field_name(lp, ll)) == 0)
			return -1;
		if (hreq_dropped(lp, nlen, opt, nopt))
			continue;
		hreq_put(&o, lp, ll);
		hreq_puts(&o, "\r\n");
	}
	hreq_puts(&o, "Host: ");
	hreq_put(&o, l.auth, l.alen);
	hreq_puts(&o, "\r\nConnection: close\r\n\r\n");
	return o.over ? -1 : (long)o.n;
}
