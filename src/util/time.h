/*
 * time.h -- monotonic milliseconds, deadlines, wall-clock formatting.
 *
 * A deadline is an absolute monotonic time in ms (int64_t); DEADLINE_NONE means "never".
 * deadline_left_ms() gives the poll() timeout for it: -1 for none, 0 once passed.
 */
#ifndef UTIL_TIME_H
#define UTIL_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DEADLINE_NONE INT64_MAX

int64_t time_mono_ms(void);
int64_t time_since_start_ms(void);
/* Wall clock, ms since the Unix epoch. */
int64_t time_wall_ms(void);
/* A deadline ms from now (ms < 0 means none). */
int64_t deadline_in_ms(int64_t ms);
/* Earlier of two deadlines. */
int64_t deadline_min(int64_t a, int64_t b);
/* ms until the deadline, clamped to int for poll(): -1 none, 0 passed. */
int deadline_left_ms(int64_t dl);
int deadline_passed(int64_t dl);
/* RFC 3339 UTC with ms ("2026-11-22T00:04:45.123Z") into out (>= 32 bytes); times
 * outside years 0000..9999 are clamped to that range. */
void time_format_rfc3339(int64_t wall_ms, char *out, size_t outlen);
/* Parses RFC 3339 ("...Z", "+hh:mm", fractions) to wall ms; 0 ok, -1 malformed
 * (fixed-width fields, real calendar dates; a missing offset is read as UTC). */
int time_parse_rfc3339(const char *s, int64_t *wall_ms);

#endif
