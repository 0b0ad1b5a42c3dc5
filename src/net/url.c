/* url.c -- the small part of RFC 3986 an HTTP client needs, strictly. */
#include "net/url.h"
#include "util/str.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char url_hex[] = "0123456789ABCDEF";

static bool
url_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 §3.3/§3.4: pchar / "/" / "?" (the '?' only matters in a query; a path
 * never contains one because the query starts there). */
static bool
url_wire_ok(unsigned char c)
{
	return c < 0x80 && (url_unreserved(c) || strchr("!$&'()*+,;=:@/?", c) != NULL);
}

/* Copies s[0..n) into the arena, keeping valid %XX escapes and encoding every byte
 * that may not appear in a path or query. NULL with *e set on a bad escape. */
static char *
url_copy_wire(const char *s, size_t n, const char *what, struct arena *a, struct err *e)
{
	char *out, *o;
	size_t i;

	if (n > URL_BYTES_MAX) {
		err_set(e, ERR_INVAL, "URL %s is over %d KiB", what, URL_BYTES_MAX / 1024);
		return NULL;
	}
	out = o = arena_alloc(a, n * 3 + 1);
	if (out == NULL) {
		err_set(e, ERR_TOOBIG, "URL does not fit in the request's memory");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n || str_hexval((unsigned char)s[i + 1]) < 0 ||
			    str_hexval((unsigned char)s[i + 2]) < 0) {
				err_set(e, ERR_INVAL,
				    "URL %s has a '%%' that is not followed by "
				    "two hex digits: write a literal '%%' as %%25",
				    what);
				return NULL;
			}
			*o++ = '%';
			*o++ = s[++i];
			*o++ = s[++i];
		} else if (url_wire_ok(c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = url_hex[c >> 4];
			*o++ = url_hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

char *
url_decode(const char *s, size_t n, bool plus_space, struct arena *a)
{
	char *out = arena_alloc(a, n + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return NULL;
			hi = str_hexval((unsigned char)s[i + 1]);
			lo = str_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_space) {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int
url_parse_port(const char *p, size_t n, struct url *u, struct err *e)
{
	long v = 0;
	size_t i;

	if (n == 0)
		return 0; /* "host:" means the default port (RFC 3986 §3.2.3) */
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]) || i >= 5)
			return err_set(e, ERR_INVAL,
			    "URL port \"%.*s\" is not a number from 1 "
			    "to 65535",
			    (int)(n < 16 ? n : 16), p);
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return err_set(e, ERR_INVAL, "URL port %ld is not from 1 to 65535", v);
	u->port = (int)v;
	u->port_explicit = true;
	return 0;
}

/* Host of the authority: "[v6]" or a DNS name / IPv4 address; lowered. */
static int
url_parse_host(const char *p, size_t n, const char **rest, struct url *u, struct arena *a,
    struct err *e)
{
	unsigned char v6[16];
	char tmp[64], *h;
	size_t i, hl;

	if (n > 0 && p[0] == '[') {
		const char *end = memchr(p, ']', n);

		hl = end ? (size_t)(end - p - 1) : 0;
		if (end == NULL || hl == 0 || hl >= sizeof(tmp))
			return err_set(e, ERR_INVAL,
			    "URL has an IPv6 address without its "
			    "closing ']'");
		memcpy(tmp, p + 1, hl);
		tmp[hl] = '\0';
		if (inet_pton(AF_INET6, tmp, v6) != 1)
			return err_set(e, ERR_INVAL, "URL host [%s] is not an IPv6 address", tmp);
		for (i = 0; i < hl; i++)
			tmp[i] = (char)tolower((unsigned char)tmp[i]);
		u->host = arena_strdup(a, tmp);
		u->ipv6 = true;
		*rest = end + 1;
		return u->host ? 0 : err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	}
	for (hl = 0; hl < n && p[hl] != ':'; hl++) {
		unsigned char c = (unsigned char)p[hl];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return err_set(e, ERR_INVAL,
			    "URL host has a character that may not be "
			    "in a host name (0x%02x): check the URL",
			    c);
	}
	if (hl == 0)
		return err_set(e, ERR_INVAL, "URL has no host name");
	if (hl > URL_HOST_BYTES_MAX)
		return err_set(e, ERR_INVAL, "URL host name is over %d bytes", URL_HOST_BYTES_MAX);
	h = arena_strndup(a, p, hl);
	if (h == NULL)
		return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	for (i = 0; i < hl; i++)
		h[i] = (char)tolower((unsigned char)h[i]);
	u->host = h;
	*rest = p + hl;
	return 0;
}

static int
url_parse_authority(const char *p, size_t n, struct url *u, struct arena *a, struct err *e)
{
	const char *at = NULL, *rest = NULL, *end = p + n;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (p[i] == '@')
			at = p + i; /* the last '@' ends the userinfo */
	}
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);

		u->user = url_decode(p, ul, false, a);
		if (colon != NULL)
			u->password = url_decode(colon + 1, (size_t)(at - colon - 1), false, a);
		if (u->user == NULL || (colon != NULL && u->password == NULL))
			return err_set(e, ERR_INVAL,
			    "URL user name or password has a bad "
			    "%%-escape");
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	rc = url_parse_host(p, n, &rest, u, a, e);
	if (rc != 0)
		return rc;
	if (rest == end)
		return 0;
	if (*rest != ':')
		return err_set(e, ERR_INVAL,
		    "URL has junk after the IPv6 address: check the "
		    "URL");
	return url_parse_port(rest + 1, (size_t)(end - rest - 1), u, e);
}

int
url_parse(const char *s, struct url *u, struct arena *a, struct err *e)
{
	const char *p, *end, *auth, *sep, *q;
	size_t n, i;
	int rc;

	memset(u, 0, sizeof(*u));
	n = strlen(s);
	while (n > 0 && s[0] == ' ') {
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 0)
		return err_set(e, ERR_INVAL, "URL is empty");
	if (n > URL_BYTES_MAX)
		return err_set(e, ERR_INVAL, "URL is over %d KiB", URL_BYTES_MAX / 1024);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return err_set(e, ERR_INVAL,
			    "URL contains a control character "
			    "(0x%02x): check the URL",
			    (unsigned char)s[i]);
	}
	end = s + n;
	p = memmem(s, n, "://", 3);
	if (p == NULL)
		return err_set(e, ERR_INVAL,
		    "\"%.*s\" is not a URL: it needs http:// or "
		    "https:// in front",
		    (int)(n < 40 ? n : 40), s);
	if ((size_t)(p - s) == 4 && strncasecmp(s, "http", 4) == 0) {
		u->scheme = "http";
		u->port = 80;
	} else if ((size_t)(p - s) == 5 && strncasecmp(s, "https", 5) == 0) {
		u->scheme = "https";
		u->port = 443;
	} else {
		return err_set(e, ERR_INVAL,
		    "URL scheme \"%.*s\" is not supported: use http "
		    "or https",
		    (int)((p - s) < 16 ? (p - s) : 16), s);
	}
	auth = p + 3;
	for (sep = auth; sep < end && *sep != '/' && *sep != '?' && *sep != '#'; sep++)
		;
	rc = url_parse_authority(auth, (size_t)(sep - auth), u, a, e);
	if (rc != 0)
		return rc;
	/* The fragment is never sent (RFC 9110 §7.1). */
	q = memchr(sep, '#', (size_t)(end - sep));
	if (q != NULL)
		end = q;
	q = memchr(sep, '?', (size_t)(end - sep));
	if (q == sep || sep == end)
		u->path = "/";
	else
		u->path = url_copy_wire(sep, (size_t)((q ? q : end) - sep), "path", a, e);
	if (q != NULL)
		u->query = url_copy_wire(q + 1, (size_t)(end - q - 1), "query", a, e);
	if (u->path == NULL || (q != NULL && u->query == NULL))
		return err_set(e, ERR_INVAL, "URL is not valid");
	return 0;
}

static bool
url_default_port(const struct url *u)
{
	return u->port == (strcmp(u->scheme, "https") == 0 ? 443 : 80);
}

char *
url_host_header(const struct url *u, struct arena *a)
{
	const char *l = u->ipv6 ? "[" : "", *r = u->ipv6 ? "]" : "";

	if (url_default_port(u))
		return arena_printf(a, "%s%s%s", l, u->host, r);
	return arena_printf(a, "%s%s%s:%d", l, u->host, r, u->port);
}

char *
url_hostport(const struct url *u, struct arena *a)
{
	const char *l = u->ipv6 ? "[" : "", *r = u->ipv6 ? "]" : "";

	return arena_printf(a, "%s%s%s:%d", l, u->host, r, u->port);
}

char *
url_request_target(const struct url *u, struct arena *a)
{
	return arena_printf(a, "%s%s%s", u->path, u->query ? "?" : "", u->query ? u->query : "");
}

char *
url_format(const struct url *u, struct arena *a)
{
	char *hh = url_host_header(u, a);

	if (hh == NULL)
		return NULL;
	return arena_printf(a, "%s://%s%s%s%s", u->scheme, hh, u->path, u->query ? "?" : "",
	    u->query ? u->query : "");
}

/* url_format with the userinfo put back, for url_join. */
static char *
url_format_userinfo(const struct url *u, struct arena *a, struct err *e)
{
	struct buf b;
	char *hh = url_host_header(u, a), *out = NULL;

	buf_init(&b, URL_BYTES_MAX * 4);
	if (hh == NULL || buf_printf(&b, e, "%s://", u->scheme) != 0)
		goto out;
	if (u->user != NULL) {
		if (url_encode(&b, u->user, strlen(u->user), URL_PART_QUERY, e) != 0 ||
		    (u->password != NULL &&
		        (buf_putc(&b, ':', e) != 0 ||
		            url_encode(&b, u->password, strlen(u->password), URL_PART_QUERY, e) !=
		                0)) ||
		    buf_putc(&b, '@', e) != 0)
			goto out;
	}
	if (buf_printf(&b, e, "%s%s%s%s", hh, u->path, u->query ? "?" : "",
	        u->query ? u->query : "") != 0)
		goto out;
	out = arena_strndup(a, b.p, b.len);
out:
	buf_fini(&b);
	return out;
}

int
url_join(const char *base, const char *path, const char *default_scheme, char **out,
    struct arena *a, struct err *e)
{
	struct url bu;
	const char *full, *pq;
	char *joined;
	size_t bl, skip;
	int rc;

	*out = NULL;
	if (strstr(base, "://") == NULL)
		full = arena_printf(a, "%s://%s", default_scheme ? default_scheme : "https", base);
	else
		full = base;
	if (full == NULL)
		return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	rc = url_parse(full, &bu, a, e);
	if (rc != 0)
		return rc;
	if (bu.query != NULL)
		return err_set(e, ERR_INVAL,
		    "base URL %s has a query, so a path cannot be "
		    "appended to it",
		    bu.host);
	bl = strlen(bu.path);
	while (bl > 0 && bu.path[bl - 1] == '/')
		bl--;
	for (skip = 0; path[skip] == '/'; skip++)
		;
	pq = path + skip;
	/* A path that is only a query ("?a=b") attaches to the prefix as it is. */
	joined = arena_printf(a, "%.*s%s%s", (int)bl, bu.path,
	    (*pq == '?' || (*pq == '\0' && skip == 0)) ? "" : "/", pq);
	if (joined == NULL)
		return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	if (joined[0] == '\0')
		joined = "/";
	else if (joined[0] == '?')
		joined = arena_printf(a, "/%s", joined);
	bu.path = joined;
	bu.query = NULL;
	full = url_format_userinfo(&bu, a, e);
	if (full == NULL)
		return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	rc = url_parse(full, &bu, a, e);
	if (rc != 0)
		return rc;
	*out = (char *)full;
	return 0;
}

/* RFC 3986 §5.2.4, on a NUL-terminated path edited in place. */
static void
url_remove_dots(char *path)
{
	char *in = path, *out = path;

	while (*in) {
		if (strncmp(in, "../", 3) == 0) {
			in += 3;
		} else if (strncmp(in, "./", 2) == 0) {
			in += 2;
		} else if (strncmp(in, "/./", 3) == 0) {
			in += 2;
		} else if (strcmp(in, "/.") == 0) {
			in[1] = '\0';
		} else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
			in += 3;
			if (*in == '\0') {
				in--;
				*in = '/';
			}
			while (out > path && *--out != '/')
				;
		} else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
			break;
		} else {
			do
				*out++ = *in++;
			while (*in && *in != '/');
		}
	}
	*out = '\0';
}

int
url_resolve(const char *base, const char *ref, char **out, struct arena *a, struct err *e)
{
	struct url bu;
	const char *r, *frag, *qm, *bpath, *slash, *auth;
	char *path, *full;
	size_t rl, pl;
	int rc;

	*out = NULL;
	rc = url_parse(base, &bu, a, e);
	if (rc != 0)
		return rc;
	for (r = ref; isalnum((unsigned char)*r) || *r == '+' || *r == '-' || *r == '.'; r++)
		;
	if (r > ref && *r == ':' && isalpha((unsigned char)ref[0])) {
		full = arena_strdup(a, ref); /* absolute: only its dots change */
	} else if (ref[0] == '/' && ref[1] == '/') {
		full = arena_printf(a, "%s:%s", bu.scheme, ref);
	} else {
		rl = strlen(ref);
		frag = memchr(ref, '#', rl);
		rl = frag ? (size_t)(frag - ref) : rl;
		qm = memchr(ref, '?', rl);
		pl = qm ? (size_t)(qm - ref) : rl;
		auth = url_host_header(&bu, a);
		if (auth == NULL)
			return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
		if (pl == 0) {
			/* Same path; the reference's query if it has one, else the base's. */
			if (qm != NULL)
				full = arena_printf(a, "%s://%s%s?%.*s", bu.scheme, auth, bu.path,
				    (int)(rl - pl - 1), qm + 1);
			else
				full = arena_printf(a, "%s://%s%s%s%s", bu.scheme, auth, bu.path,
				    bu.query ? "?" : "", bu.query ? bu.query : "");
			goto parse;
		}
		bpath = bu.path;
		if (ref[0] == '/') {
			path = arena_strndup(a, ref, pl);
		} else {
			slash = strrchr(bpath, '/');
			path = arena_printf(a, "%.*s%.*s", (int)(slash - bpath + 1), bpath, (int)pl,
			    ref);
		}
		if (path == NULL)
			return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
		url_remove_dots(path);
		full = arena_printf(a, "%s://%s%s%.*s", bu.scheme, auth, path, (int)(rl - pl),
		    ref + pl);
	}
parse:
	if (full == NULL)
		return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	rc = url_parse(full, &bu, a, e);
	if (rc != 0)
		return rc;
	path = arena_strdup(a, bu.path);
	if (path == NULL)
		return err_set(e, ERR_TOOBIG, "URL does not fit in memory");
	url_remove_dots(path);
	if (path[0] != '/')
		path = arena_printf(a, "/%s", path);
	bu.path = path;
	*out = url_format(&bu, a);
	return *out ? 0 : err_set(e, ERR_TOOBIG, "URL does not fit in memory");
}

int
url_encode(struct buf *out, const char *s, size_t n, enum url_part part, struct err *e)
{
	size_t i;
	int rc;

	rc = buf_reserve(out, n * 3, e);
	if (rc != 0)
		return rc;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (url_unreserved(c) || (c == '/' && part == URL_PART_PATH)) {
			out->p[out->len++] = (char)c;
		} else {
			out->p[out->len++] = '%';
			out->p[out->len++] = url_hex[c >> 4];
			out->p[out->len++] = url_hex[c & 15];
		}
	}
	out->p[out->len] = '\0';
	return 0;
}

int
url_query_add(struct buf *q, const char *key, const char *value, struct err *e)
{
	int rc = 0;

	if (q->len > 0)
		rc = buf_putc(q, '&', e);
	if (rc == 0)
		rc = url_encode(q, key, strlen(key), URL_PART_QUERY, e);
	if (rc == 0)
		rc = buf_putc(q, '=', e);
	if (rc == 0)
		rc = url_encode(q, value, strlen(value), URL_PART_QUERY, e);
	return rc;
}
