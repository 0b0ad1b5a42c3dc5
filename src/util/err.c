/* err.c -- first-error-wins error messages. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	if (e->code != ERR_OK)
		return e->code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
err_prefix(struct err *e, const char *fmt, ...)
{
	char pre[ERR_MSG_MAX], old[ERR_MSG_MAX];
	va_list ap;

	if (e == NULL || e->code == ERR_OK)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	{
		size_t pl = strnlen(pre, sizeof(pre) - 1), ol = strnlen(old, sizeof(old) - 1);

		if (pl + ol > sizeof(e->msg) - 1)
			ol = sizeof(e->msg) - 1 - pl;
		memcpy(e->msg, pre, pl);
		memcpy(e->msg + pl, old, ol);
		e->msg[pl + ol] = '\0';
	}
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_OK;
	e->msg[0] = '\0';
}

const char *
err_name(int code)
{
	static const char *names[ERR__MAX] = { "ok", "invalid", "too big", "io", "tls", "protocol",
		"http", "timeout", "cancelled", "not found", "backend", "unsupported", "exists" };

	if (code < 0 || code >= ERR__MAX)
		return "unknown";
	return names[code];
}
