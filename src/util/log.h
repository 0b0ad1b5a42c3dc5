/*
 * log.h -- one line per message on stderr, and an optional hook for MCP logging.
 *
 * Nothing in this program writes to stdout except mcp/rpc's writer; everything else
 * logs here. Each line: "sandbox-mcp: LEVEL module: message (+12ms)".
 * Secrets registered with log_add_secret() are replaced by "[redacted]" in every line
 * and by log_scrub() in any text the caller is about to show (errors, results).
 * Threads: every function is thread-safe.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <stddef.h>

/* RFC 5424 order, as MCP logging uses it. */
enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_NOTICE,
	LOG_WARN,
	LOG_ERROR,
	LOG_CRIT,
	LOG_ALERT,
	LOG_EMERG,
	LOG__MAX
};

/* Receives every message at or above the hook level, already scrubbed. */
typedef void (*log_hook_fn)(enum log_level lvl, const char *module, const char *msg, void *arg);

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_set_hook(log_hook_fn fn, void *arg, enum log_level lvl);
void log_set_hook_level(enum log_level lvl);
/* Names as MCP spells them: "debug", "info", "notice", "warning", "error", ... */
const char *log_level_name(enum log_level lvl);
/* Returns 0 and sets *out for a known name (also "warn"), -1 otherwise. */
int log_level_parse(const char *name, enum log_level *out);

/* Registers a secret (API key, token) to be redacted; strings shorter than 4 bytes are ignored. */
void log_add_secret(const char *s);
/* Replaces every registered secret in s (NUL-terminated, edited in place). */
void log_scrub(char *s);

#endif
