/*
 * url.h -- parse, build, join and percent-encode http and https URLs (RFC 3986).
 *
 * Owns:    nothing; every string a function returns is allocated from the caller's
 *          arena and lives as long as it does.
 * Borrows: its inputs, only for the duration of the call.
 * Errors:  0 or ERR_INVAL with a sentence that quotes no more of the URL than the host
 *          (URLs may carry tokens in their query or userinfo); ERR_TOOBIG when the arena
 *          is full.
 * Threads: no shared state; any thread may call anything.
 *
 * What url_parse() accepts: "http" or "https" (any case), "://", optional userinfo
 * ("user:password@", percent-decoded into user/password), a host that is a DNS name
 * (letters, digits, '-', '.', '_'; lowered), an IPv4 address, or an IPv6 address in
 * brackets (no zone id), an optional port 1-65535, then path, query and fragment. The
 * fragment is dropped. Path and query keep the percent-escapes they arrived with; a byte
 * that may not appear there (space, '"', '<', '>', '\\', '^', '`', '{', '|', '}', and
 * bytes >= 0x80) is percent-encoded rather than rejected, so u->path and u->query are
 * always valid on the wire. ASCII control characters, a '%' not followed by two hex
 * digits, and anything else in the host are rejected.
 */
#ifndef NET_URL_H
#define NET_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

#define URL_BYTES_MAX      (64 * 1024)
#define URL_HOST_BYTES_MAX 255 /* RFC 1035 §2.3.4 */

struct url {
	const char *scheme; /* "http" or "https" (static strings) */
	const char *host;   /* lower case; an IPv6 address without brackets */
	int port;           /* explicit, else 80 or 443 */
	bool port_explicit;
	bool ipv6;            /* host is an IPv6 literal: write it in brackets */
	const char *user;     /* decoded userinfo, or NULL */
	const char *password; /* decoded, or NULL */
	const char *path;     /* starts with '/'; "/" when the URL has none */
	const char *query;    /* after '?', without it; NULL when there is no '?' */
};

int url_parse(const char *s, struct url *u, struct arena *a, struct err *e);

/* Whole URL without userinfo: "https://[::1]:8443/p?q". The port is written only when
 * it is not the scheme's default. */
char *url_format(const struct url *u, struct arena *a);
/* "host:port" with IPv6 in brackets, port always present: for CONNECT and messages. */
char *url_hostport(const struct url *u, struct arena *a);
/* Host header value: host, in brackets for IPv6, ":port" only when not the default. */
char *url_host_header(const struct url *u, struct arena *a);
/* path?query as sent in an origin-form request line. */
char *url_request_target(const struct url *u, struct arena *a);

/* Joins a base that platforms hand out -- "host:port/prefix", "https://host/prefix/"
 * (a base without "://" gets default_scheme) -- with an API path such as
 * "/files?path=x". Exactly one '/' separates prefix and path; the path's query is kept;
 * the result is checked with url_parse(). */
int url_join(const char *base, const char *path, const char *default_scheme, char **out,
    struct arena *a, struct err *e);

/* Resolves a reference (a Location header, say) against an absolute base as RFC 3986
 * §5.2 says, removing dot segments. The result must again be http or https. */
int url_resolve(const char *base, const char *ref, char **out, struct arena *a, struct err *e);

/* Which bytes url_encode() leaves alone besides the unreserved ones
 * (ALPHA DIGIT - . _ ~): */
enum url_part {
	URL_PART_SEGMENT, /* one path segment: '/' is encoded */
	URL_PART_PATH,    /* a path: '/' is kept */
	URL_PART_QUERY,   /* a query key or value: '&', '=', '+', '#' encoded */
};
/* Appends s[0..n) percent-encoded (upper-case hex) to out. */
int url_encode(struct buf *out, const char *s, size_t n, enum url_part part, struct err *e);
/* Appends "key=value" to a query being built in q, with '&' first when q is not empty. */
int url_query_add(struct buf *q, const char *key, const char *value, struct err *e);
/* Decodes %XX escapes of s[0..n) into the arena (with '+' as space when plus_space).
 * NULL on a bad escape, an encoded NUL, or a full arena. */
char *url_decode(const char *s, size_t n, bool plus_space, struct arena *a);

#endif
