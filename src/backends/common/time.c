/* time.c -- RFC 3339 timestamps from the platforms' JSON (contract in time.h). */
#include "backends/common/time.h"

#include "util/str.h"
#include "util/time.h"

int64_t
btime_parse(const char *s)
{
	int64_t ms;

	/* Go's zero time, with any offset or fraction: year 1 is "never", not a date. */
	if (s == NULL || str_has_prefix(s, "0001-"))
		return 0;
	if (time_parse_rfc3339(s, &ms) != 0)
		return 0;
	return ms;
}

int64_t
btime_json(const struct json *obj, const char *key)
{
	return btime_parse(json_get_str(obj, key));
}
