/*
 * http_proxy.c -- proxies for the HTTP client (contract in http.h, "Proxies"): proxy URLs
 * from the configuration or the environment, NO_PROXY matching, and CONNECT tunnels.
 * Declarations shared with http.c are in http_internal.h.
 */
#include "net/http_internal.h"
#include "net/http_log.h"
#include "net/http_parse.h"
#include "net/sock.h"
#include "net/url.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
http_proxy_free(struct http_proxy *p)
{
	if (p == NULL)
		return;
	free(p->host);
	free(p->auth);
	free(p);
}

/* Parses a proxy URL ("http://user:pw@host:port", scheme optional). Messages name the
 * variable and the host, never the userinfo. */
int
http_proxy_parse(const char *s, const char *var, struct http_proxy **out, struct err *e)
{
	struct arena *a;
	struct url u;
	struct err pe = { 0 };
	const char *sep = strstr(s, "://");
	char *full;
	int rc = 0;

	*out = NULL;
	if (s[0] == '\0')
		return 0;
	if (sep != NULL && !((sep - s) == 4 && strncasecmp(s, "http", 4) == 0))
		return err_set(e, ERR_INVAL,
		    "%s: the proxy scheme \"%.*s\" is not supported: "
		    "use an http:// proxy URL",
		    var, (int)((sep - s) < 10 ? (sep - s) : 10), s);
	a = arena_new(4 * URL_BYTES_MAX + 4096);
	full = sep ? arena_strdup(a, s) : arena_printf(a, "http://%s", s);
	if (full == NULL || url_parse(full, &u, a, &pe) != 0) {
		rc = err_set(e, ERR_INVAL, "%s is not a valid proxy URL: %s", var,
		    pe.code ? pe.msg : "too long");
		goto out;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->host = xstrdup(u.host);
	(*out)->port = u.port;
	(*out)->ipv6 = u.ipv6;
	(*out)->var = var;
	if (u.user != NULL) {
		char *cred = arena_printf(a, "%s:%s", u.user, u.password ? u.password : "");
		size_t cl = cred ? strlen(cred) : 0;
		char *enc = xmalloc(b64_encoded_len(cl) + 1 + 6);

		memcpy(enc, "Basic ", 6);
		b64_encode((const unsigned char *)(cred ? cred : ""), cl, enc + 6);
		(*out)->auth = enc;
		log_add_secret(enc + 6);
		if (u.password != NULL)
			log_add_secret(u.password);
	}
out:
	arena_free(a);
	return rc;
}

const char *
http_env2(const char *upper, const char *lower)
{
	const char *v = getenv(upper);

	return v != NULL ? v : getenv(lower);
}

/* Parses "a.b.c.d", "v6" (brackets allowed) into 16 bytes; the family in *fam. */
static bool
http_parse_ip(const char *s, size_t n, unsigned char ip[16], int *fam)
{
	char tmp[64];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, ip) == 1) {
		*fam = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, ip) == 1) {
		*fam = AF_INET6;
		return true;
	}
	return false;
}

static bool
http_is_loopback(const char *host)
{
	unsigned char ip[16];
	static const unsigned char v6lo[16] = { [15] = 1 };
	int fam;

	if (strcmp(host, "localhost") == 0 || str_has_suffix(host, ".localhost"))
		return true;
	if (!http_parse_ip(host, strlen(host), ip, &fam))
		return false;
	return fam == AF_INET ? ip[0] == 127 : memcmp(ip, v6lo, 16) == 0;
}

static bool
http_cidr_match(const unsigned char *net, const unsigned char *ip, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(net, ip, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net[full] ^ ip[full]) & (0xff << (8 - rest))) == 0;
}

/* One NO_PROXY entry (trimmed, not empty) against host:port. */
static bool
http_no_proxy_entry(const char *ent, size_t n, const char *host, int port)
{
	unsigned char eip[16], hip[16];
	const char *slash, *colon = NULL;
	int efam, hfam, eport = 0;
	size_t hl = strlen(host);

	if (n == 1 && ent[0] == '*')
		return true;
	/* A trailing ":port" (after "]" for IPv6, or the only ':' otherwise). */
	if (ent[0] == '[') {
		const char *rb = memchr(ent, ']', n);

		if (rb != NULL && rb + 1 < ent + n && rb[1] == ':')
			colon = rb + 1;
	} else {
		const char *c1 = memchr(ent, ':', n);

		if (c1 != NULL && memchr(c1 + 1, ':', (size_t)(ent + n - c1 - 1)) == NULL)
			colon = c1;
	}
	if (colon != NULL) {
		eport = atoi(colon + 1);
		n = (size_t)(colon - ent);
		if (eport != port)
			return false;
	}
	slash = memchr(ent, '/', n);
	if (slash != NULL) {
		int bits = atoi(slash + 1);

		if (!http_parse_ip(ent, (size_t)(slash - ent), eip, &efam) ||
		    !http_parse_ip(host, hl, hip, &hfam) || efam != hfam)
			return false;
		if (bits < 0 || bits > (efam == AF_INET ? 32 : 128))
			return false;
		return http_cidr_match(eip, hip, bits);
	}
	if (http_parse_ip(ent, n, eip, &efam)) {
		return http_parse_ip(host, hl, hip, &hfam) && efam == hfam &&
		    memcmp(eip, hip, efam == AF_INET ? 4 : 16) == 0;
	}
	if (n >= 2 && ent[0] == '*' && ent[1] == '.') {
		ent++;
		n--;
	}
	if (ent[0] == '.') {
		/* ".example.com" matches example.com and its subdomains, as curl does. */
		if (hl == n - 1 && strncasecmp(host, ent + 1, n - 1) == 0)
			return true;
		return hl > n && strncasecmp(host + hl - n, ent, n) == 0;
	}
	if (hl == n && strncasecmp(host, ent, n) == 0)
		return true;
	return hl > n && host[hl - n - 1] == '.' && strncasecmp(host + hl - n, ent, n) == 0;
}

bool
http_no_proxy(const struct http_client *c, const char *host, int port)
{
	const char *p = c->no_proxy;

	if (http_is_loopback(host))
		return true;
	while (p != NULL && *p) {
		const char *end = strchr(p, ',');
		struct str s = { p, end ? (size_t)(end - p) : strlen(p) };

		s = str_trim(s);
		if (s.len > 0 && http_no_proxy_entry(s.p, s.len, host, port))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* CONNECT host:port through the proxy on k->fd (RFC 9110 §9.3.6). */
int
http_connect_tunnel(struct http_req *r, struct http_conn *k, int64_t dl, struct err *e)
{
	const struct http_proxy *px = r->proxy;
	struct http_field fields[HTTP_HEADERS_MAX];
	struct http_head h;
	struct buf req;
	struct err we = { 0 };
	char *hp = url_hostport(&r->u, r->a);
	ssize_t n;
	size_t got;
	int rc;

	if (hp == NULL)
		return err_set(e, ERR_TOOBIG, "%s: out of request memory", r->what);
	buf_init(&req, 0);
	rc = buf_printf(&req, e,
	    "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n%s%s%s"
	    "\r\n",
	    hp, hp, r->c->user_agent, px->auth ? "Proxy-Authorization: " : "",
	    px->auth ? px->auth : "", px->auth ? "\r\n" : "");
	if (rc == 0) {
		http_log_head(">", req.p, req.len);
		rc = sock_write_all(k->fd, req.p, req.len, dl, r->rq->cancel, &we);
		if (rc != 0)
			rc = err_set(e, rc, "%s: sending CONNECT to the proxy %s:%d: %s", r->what,
			    px->host, px->port, we.msg);
	}
	buf_fini(&req);
	while (rc == 0) {
		h.fields = fields;
		h.nfields = HTTP_HEADERS_MAX;
		n = http_parse_response(k->in.p, k->in.len, &h, &we);
		if (n > 0)
			break;
		if (n == HTTP_PARSE_ERR)
			return err_set(e, we.code, "%s: the proxy %s:%d sent %s", r->what, px->host,
			    px->port, we.msg);
		if ((rc = buf_reserve(&k->in, 4096, e)) != 0)
			return rc;
		rc = sock_read(k->fd, k->in.p + k->in.len, 4096, &got, dl, r->rq->cancel, &we);
		if (rc != 0)
			return err_set(e, rc,
			    "%s: waiting for the proxy %s:%d to open the "
			    "tunnel: %s",
			    r->what, px->host, px->port, we.msg);
		if (got == 0)
			return err_set(e, ERR_IO,
			    "%s: the proxy %s:%d closed the connection "
			    "instead of opening the tunnel",
			    r->what, px->host, px->port);
		k->in.len += got;
		k->in.p[k->in.len] = '\0';
	}
	if (rc != 0)
		return rc;
	http_log_head("<", k->in.p, (size_t)n);
	if (h.status / 100 != 2)
		return err_set(e, ERR_IO, "%s: the proxy %s:%d refused the tunnel with %d %.*s%s",
		    r->what, px->host, px->port, h.status,
		    (int)(h.reason.len > 60 ? 60 : h.reason.len), h.reason.p,
		    h.status == 407 ? ": check the user name and "
		                      "password in HTTPS_PROXY"
		                    : "");
	if ((size_t)n != k->in.len)
		return err_set(e, ERR_PROTO,
		    "%s: the proxy %s:%d sent data after opening the "
		    "tunnel",
		    r->what, px->host, px->port);
	k->in.len = 0;
	return 0;
}
