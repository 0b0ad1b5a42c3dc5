/*
 * test_http_log.c -- the debug log of HTTP heads: built-in and registered secret headers
 * are redacted, others are not; registration's errors and its fixed-size table.
 */
#include "net/http_log.h"
#include "util/err.h"
#include "util/log.h"
#include "tap.h"

#include <stdlib.h>

static char last[4096];
static int nlogged;

static void
hook(enum log_level lvl, const char *module, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	if (strcmp(module, "http") != 0)
		return;
	snprintf(last, sizeof(last), "%s", msg);
	nlogged++;
}

/* Logs head and returns the line the log got ("" when none). */
static const char *
logged(const char *dir, const char *head)
{
	last[0] = '\0';
	http_log_head(dir, head, strlen(head));
	return last;
}

static void
test_redaction(void)
{
	const char *req = "GET /p?path=/x&signature=S3CRETq HTTP/1.1\r\n"
	                  "Host: h\r\n"
	                  "Authorization: Bearer S3CRETbearer\r\n"
	                  "X-My-Token: S3CRETmine\r\n"
	                  "X-Plain: visible-value\r\n"
	                  "\r\n";
	const char *line;

	line = logged(">", req);
	ok(strstr(line, "> GET /p?path=/x&signature=[redacted] HTTP/1.1") == line,
	    "the request line comes first, its credential-like query value redacted: %s", line);
	ok(strstr(line, "Authorization: [redacted]") != NULL &&
	        strstr(line, "S3CRETbearer") == NULL,
	    "Authorization is redacted without "
	    "registration (built in)");
	ok(strstr(line, "X-My-Token: S3CRETmine") != NULL,
	    "an unregistered header's value is logged as it is");
	ok(strstr(line, "X-Plain: visible-value") != NULL, "a plain header is logged");

	is_int(http_log_secret_header("x-my-token"), 0, "registering a header returns 0");
	line = logged(">", req);
	ok(strstr(line, "X-My-Token: [redacted]") != NULL && strstr(line, "S3CRETmine") == NULL,
	    "a registered header's value is redacted (names match in any case): %s", line);
	ok(strstr(line, "X-Plain: visible-value") != NULL,
	    "an unregistered header is still logged after another one is registered");
	ok(strstr(line, "Host: h") != NULL, "Host is logged");

	line = logged("<",
	    "HTTP/1.1 200 OK\r\nSet-Cookie: S3CRETcookie\r\nx-MY-token: "
	    "S3CRETagain\r\nContent-Length: 0\r\n\r\n");
	ok(strstr(line, "< HTTP/1.1 200 OK") == line && strstr(line, "S3CRET") == NULL &&
	        strstr(line, "Set-Cookie: [redacted]") != NULL &&
	        strstr(line, "x-MY-token: [redacted]") != NULL &&
	        strstr(line, "Content-Length: 0") != NULL,
	    "a response head: Set-Cookie (built in) and the registered name redacted: %s", line);

	log_add_secret("S3CRETsomewhere");
	line = logged(">", "GET / HTTP/1.1\nX-Plain: has S3CRETsomewhere inside\n\n");
	ok(strstr(line, "X-Plain: has [redacted] inside") != NULL,
	    "log_add_secret() strings are redacted in any header, LF-only heads too: %s", line);

	log_set_level(LOG_INFO);
	nlogged = 0;
	(void)logged(">", req);
	is_int(nlogged, 0, "nothing is logged when the debug level is off");
	log_set_level(LOG_DEBUG);
}

static void
test_registration(void)
{
	char name[HTTP_LOG_HEADER_NAME_MAX + 8], head[256], want[128];
	int rc = 0, i;

	is_int(http_log_secret_header(NULL), ERR_INVAL, "a NULL name is ERR_INVAL");
	is_int(http_log_secret_header(""), ERR_INVAL, "an empty name is ERR_INVAL");
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	is_int(http_log_secret_header(name), ERR_INVAL, "a name too long is ERR_INVAL");
	name[HTTP_LOG_HEADER_NAME_MAX - 1] = '\0';
	is_int(http_log_secret_header(name), 0, "the longest name fits");
	is_int(http_log_secret_header("X-MY-TOKEN"), 0, "registering again is a no-op");
	is_int(http_log_secret_header("Cookie"), 0, "registering a built-in name is a no-op");

	/* Two slots are taken (x-my-token and the long name); fill the rest. */
	for (i = 0; i < HTTP_LOG_SECRET_HEADERS_MAX - 2 && rc == 0; i++) {
		snprintf(name, sizeof(name), "X-Fill-%d", i);
		rc = http_log_secret_header(name);
	}
	is_int(rc, 0, "the table takes HTTP_LOG_SECRET_HEADERS_MAX names");
	is_int(http_log_secret_header("X-One-Too-Many"), ERR_TOOBIG, "one more is ERR_TOOBIG");
	is_int(http_log_secret_header("x-fill-0"), 0, "a registered name is still a no-op");
	snprintf(head, sizeof(head),
	    "GET / HTTP/1.1\r\nX-Fill-%d: S3CRET\r\n"
	    "X-One-Too-Many: v\r\n\r\n",
	    i - 1);
	snprintf(want, sizeof(want), "X-Fill-%d: [redacted] | X-One-Too-Many: v", i - 1);
	ok(strstr(logged(">", head), want) != NULL,
	    "the last name that fit is redacted, the refused one is not: %s", last);
}

int
main(void)
{
	log_set_level(LOG_DEBUG);
	log_set_hook(hook, NULL, LOG_DEBUG);
	test_redaction();
	test_registration();
	return done_testing();
}
