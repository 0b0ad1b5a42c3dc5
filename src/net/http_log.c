/*
 * http_log.c -- HTTP heads on the debug log with credentials redacted (contract in
 * http_log.h).
 */
#include "net/http_log.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Generic credential headers; the backends register their own. */
static const char *const http_log_builtin[] = { "authorization", "proxy-authorization", "cookie",
	"set-cookie" };

/* Registered names; written only before threads start (see http_log.h). */
static char http_log_names[HTTP_LOG_SECRET_HEADERS_MAX][HTTP_LOG_HEADER_NAME_MAX];
static size_t http_log_nnames;

static bool
http_secret_header(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(http_log_builtin) / sizeof(http_log_builtin[0]); i++) {
		if (strlen(http_log_builtin[i]) == n &&
		    strncasecmp(http_log_builtin[i], name, n) == 0)
			return true;
	}
	for (i = 0; i < http_log_nnames; i++) {
		if (strlen(http_log_names[i]) == n && strncasecmp(http_log_names[i], name, n) == 0)
			return true;
	}
	return false;
}

int
http_log_secret_header(const char *name)
{
	size_t n;

	if (name == NULL || name[0] == '\0' || (n = strlen(name)) >= HTTP_LOG_HEADER_NAME_MAX)
		return ERR_INVAL;
	if (http_secret_header(name, n))
		return 0;
	if (http_log_nnames == HTTP_LOG_SECRET_HEADERS_MAX)
		return ERR_TOOBIG;
	memcpy(http_log_names[http_log_nnames], name, n + 1);
	http_log_nnames++;
	return 0;
}

/* Query parameters whose values look like credentials (signatures, tokens). */
static bool
http_secret_param(const char *k, size_t n)
{
	static const char *const words[] = { "sig", "token", "key", "secret", "auth", "pass",
		"cred" };
	size_t i, j, wl;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		wl = strlen(words[i]);
		for (j = 0; j + wl <= n; j++) {
			if (strncasecmp(k + j, words[i], wl) == 0)
				return true;
		}
	}
	return false;
}

/* The request line with credential-like query values replaced. */
static void
http_log_first_line(struct buf *out, const char *p, size_t n)
{
	const char *q = memchr(p, '?', n), *end = p + n, *sp;

	if (q == NULL) {
		buf_append(out, p, n, NULL);
		return;
	}
	sp = memchr(q, ' ', (size_t)(end - q));
	if (sp == NULL)
		sp = end;
	buf_append(out, p, (size_t)(q - p + 1), NULL);
	for (const char *s = q + 1; s < sp;) {
		const char *amp = memchr(s, '&', (size_t)(sp - s)), *pe;
		const char *eq;

		pe = amp ? amp : sp;
		eq = memchr(s, '=', (size_t)(pe - s));
		if (eq != NULL && http_secret_param(s, (size_t)(eq - s))) {
			buf_append(out, s, (size_t)(eq - s + 1), NULL);
			buf_puts(out, "[redacted]", NULL);
		} else {
			buf_append(out, s, (size_t)(pe - s), NULL);
		}
		if (amp == NULL)
			break;
		buf_putc(out, '&', NULL);
		s = amp + 1;
	}
	buf_append(out, sp, (size_t)(end - sp), NULL);
}

/* Logs a head (CRLF- or LF-separated lines) on one debug line, with the values of
 * credential headers replaced; log_msg() then redacts every registered secret. */
void
http_log_head(const char *dir, const char *head, size_t len)
{
	struct buf out;
	const char *p = head, *end = head + len;
	bool first = true;

	if (log_get_level() > LOG_DEBUG)
		return;
	buf_init(&out, 8192);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (!first)
			buf_puts(&out, " | ", NULL);
		colon = memchr(p, ':', ll);
		if (first && dir[0] == '>') {
			http_log_first_line(&out, p, ll);
		} else if (!first && colon != NULL && http_secret_header(p, (size_t)(colon - p))) {
			buf_append(&out, p, (size_t)(colon - p + 1), NULL);
			buf_puts(&out, " [redacted]", NULL);
		} else {
			buf_append(&out, p, ll, NULL);
		}
		first = false;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (out.p != NULL) {
		log_scrub(out.p);
		log_msg(LOG_DEBUG, "http", "%s %s", dir, out.p);
	}
	buf_fini(&out);
}
