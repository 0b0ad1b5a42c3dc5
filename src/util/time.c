/* time.c -- clocks and deadlines. */
#include "util/time.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int64_t time_start = -1;

int64_t
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_since_start_ms(void)
{
	int64_t now = time_mono_ms();

	/* A benign race: the first callers may each store roughly the same value. */
	if (time_start < 0)
		time_start = now;
	return now - time_start;
}

int64_t
time_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
deadline_in_ms(int64_t ms)
{
	if (ms < 0)
		return DEADLINE_NONE;
	return time_mono_ms() + ms;
}

int64_t
deadline_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int
deadline_left_ms(int64_t dl)
{
	int64_t left;

	if (dl == DEADLINE_NONE)
		return -1;
	left = dl - time_mono_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

int
deadline_passed(int64_t dl)
{
	return dl != DEADLINE_NONE && time_mono_ms() >= dl;
}

void
time_format_rfc3339(int64_t wall_ms, char *out, size_t outlen)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
time_parse_rfc3339(const char *s, int64_t *wall_ms)
{
	int y, mo, d, h, mi, sec, n = 0, off = 0;
	int64_t ms = 0, scale = 100;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2d%*[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n == 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + n;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
		p += 6;
	} else if (*p != '\0') {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*wall_ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	    sec - off * 60) * 1000) + ms;
	return 0;
}
