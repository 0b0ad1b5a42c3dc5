/*
 * time.h -- timestamps in the remote platforms' JSON, as wall ms since the Unix epoch.
 *
 * Both platforms write RFC 3339 (Go's time.Format(RFC3339) or with fractions). Go's zero
 * time "0001-01-01T00:00:00Z" is how a Go server says "never" (E2B's endAt of a sandbox
 * without a timeout); it and anything else in year 1 read as 0, as does a missing or
 * malformed value ("<unknown>" happens too): 0 means never or unknown, as in
 * struct sb_info (backend.h).
 *
 * Owns:    nothing; pure functions over borrowed strings.
 * Errors:  none: what cannot be read is 0.
 * Threads: any.
 */
#ifndef BACKENDS_COMMON_TIME_H
#define BACKENDS_COMMON_TIME_H

#include <stdint.h>

#include "json/json.h"

/* RFC 3339 text to wall ms; 0 for NULL, malformed text and Go's zero time. */
int64_t btime_parse(const char *s);

/* The string member `key` of a JSON object read with btime_parse(); 0 when absent or
 * not a string. */
int64_t btime_json(const struct json *obj, const char *key);

#endif
