/* log.c -- stderr logging with secret redaction and an MCP hook. */
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LOG_WARN;
static log_hook_fn log_hook;
static void *log_hook_arg;
static enum log_level log_hook_level = LOG__MAX;
/* Longest first, so a secret that contains a shorter one is redacted whole. */
static char **log_secrets;
static int log_nsecrets;

static const char *log_names[LOG__MAX] = { "debug", "info", "notice", "warning", "error",
	"critical", "alert", "emergency" };

const char *
log_level_name(enum log_level lvl)
{
	return lvl < LOG__MAX ? log_names[lvl] : "unknown";
}

int
log_level_parse(const char *name, enum log_level *out)
{
	int i;

	if (strcasecmp(name, "warn") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	for (i = 0; i < LOG__MAX; i++) {
		if (strcasecmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_set_level(enum log_level lvl)
{
	pthread_mutex_lock(&log_lock);
	log_level = lvl;
	pthread_mutex_unlock(&log_lock);
}

enum log_level
log_get_level(void)
{
	enum log_level l;

	pthread_mutex_lock(&log_lock);
	l = log_level;
	pthread_mutex_unlock(&log_lock);
	return l;
}

void
log_set_hook(log_hook_fn fn, void *arg, enum log_level lvl)
{
	pthread_mutex_lock(&log_lock);
	log_hook = fn;
	log_hook_arg = arg;
	log_hook_level = lvl;
	pthread_mutex_unlock(&log_lock);
}

void
log_set_hook_level(enum log_level lvl)
{
	pthread_mutex_lock(&log_lock);
	log_hook_level = lvl;
	pthread_mutex_unlock(&log_lock);
}

/* Every secret is kept (there is no cap that would let one leak). */
void
log_add_secret(const char *s)
{
	size_t sl;
	int i, at;

	if (s == NULL || (sl = strlen(s)) < 4)
		return;
	pthread_mutex_lock(&log_lock);
	for (i = 0; i < log_nsecrets; i++) {
		if (strcmp(log_secrets[i], s) == 0) {
			pthread_mutex_unlock(&log_lock);
			return;
		}
	}
	for (at = 0; at < log_nsecrets && strlen(log_secrets[at]) >= sl; at++)
		;
	log_secrets = xrealloc(log_secrets, (size_t)(log_nsecrets + 1) * sizeof(*log_secrets));
	memmove(log_secrets + at + 1, log_secrets + at,
	    (size_t)(log_nsecrets - at) * sizeof(*log_secrets));
	log_secrets[at] = xstrdup(s);
	log_nsecrets++;
	pthread_mutex_unlock(&log_lock);
}

/* Caller holds log_lock. */
static void
log_scrub_locked(char *s)
{
	static const char red[] = "[redacted]";
	size_t rl = sizeof(red) - 1;
	int i;

	for (i = 0; i < log_nsecrets; i++) {
		size_t sl = strlen(log_secrets[i]);
		char *p = s;

		while ((p = strstr(p, log_secrets[i])) != NULL) {
			/* Secrets are at least 4 bytes; the marker may be longer, so shift. */
			size_t tail = strlen(p + sl);

			if (rl <= sl) {
				memcpy(p, red, rl);
				memmove(p + rl, p + sl, tail + 1);
			} else {
				/* Not enough room to grow in place: mask with '*' instead. */
				memset(p, '*', sl);
			}
			p += rl <= sl ? rl : sl;
		}
	}
}

void
log_scrub(char *s)
{
	pthread_mutex_lock(&log_lock);
	log_scrub_locked(s);
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
	log_hook_fn hook = NULL;
	void *hook_arg = NULL;
	va_list ap;
	ssize_t r;
	int n;

	pthread_mutex_lock(&log_lock);
	if (lvl < log_level && (log_hook == NULL || lvl < log_hook_level)) {
		pthread_mutex_unlock(&log_lock);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages are one line: newlines in peer-supplied text are flattened. */
	for (char *p = msg; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	log_scrub_locked(msg);
	if (lvl >= log_level) {
		n = snprintf(line, sizeof(line), "sandbox-mcp: %s %s: %s (+%lldms)\n",
		    log_names[lvl < LOG__MAX ? lvl : LOG_EMERG], module, msg,
		    (long long)time_since_start_ms());
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		r = write(2, line, (size_t)n);
		(void)r;
	}
	if (log_hook != NULL && lvl >= log_hook_level) {
		hook = log_hook;
		hook_arg = log_hook_arg;
	}
	pthread_mutex_unlock(&log_lock);
	if (hook != NULL)
		hook(lvl, module, msg, hook_arg);
}
