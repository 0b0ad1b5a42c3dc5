/*
 * http_log.h -- debug logging of HTTP request and response heads, with credentials
 * redacted.
 *
 * Every head the client sends or receives (and a proxy's CONNECT exchange) goes to
 * log_msg(LOG_DEBUG, "http", ...) on one line, lines joined by " | ", through
 * http_log_head(). Before it is logged, the value of every secret header is replaced with
 * "[redacted]", and so is the value of every query parameter whose name contains sig,
 * token, key, secret, auth, pass or cred; log_msg() then replaces every log_add_secret()
 * string wherever it appears. Bodies are never logged here.
 *
 * Secret headers: Authorization, Proxy-Authorization, Cookie and Set-Cookie are built in.
 * The net layer knows no platform, so each backend registers the names of its own
 * credential headers (X-API-Key, OPEN-SANDBOX-API-KEY, ...) with
 * http_log_secret_header(); main.c does so for every backend in backends/registry.c
 * before it opens one. Names match case-insensitively.
 *
 * Owns:    a fixed table of HTTP_LOG_SECRET_HEADERS_MAX registered names (copies), for
 *          the life of the process; there is no unregistering.
 * Borrows: head only during http_log_head(); name only during the registration.
 * Errors:  http_log_secret_header() returns ERR_INVAL for a NULL or empty name, or one of
 *          HTTP_LOG_HEADER_NAME_MAX bytes or more, and ERR_TOOBIG when the table is full.
 *          Logging cannot fail (a head that does not fit the line is cut).
 * Threads: http_log_secret_header() writes the table without a lock: call it only while
 *          the process has one thread, before any thread that makes HTTP requests starts
 *          (main.c registers right after reading its configuration). http_log_head() may
 *          then be called from any number of threads.
 */
#ifndef NET_HTTP_LOG_H
#define NET_HTTP_LOG_H

#include <stddef.h>

#define HTTP_LOG_SECRET_HEADERS_MAX 32
#define HTTP_LOG_HEADER_NAME_MAX    64

/* Registers a header whose values are redacted in logged heads; registering a name
 * again (in any case), or a built-in one, is a no-op. Returns 0 or an ERR_* code. */
int http_log_secret_header(const char *name);

/* Logs a head (CRLF- or LF-separated lines, up to the blank line) at LOG_DEBUG, when
 * that level is on. dir is ">" for a request (its query values are redacted) or "<" for a
 * response. */
void http_log_head(const char *dir, const char *head, size_t len);

#endif
