/* time.c -- clocks and deadlines. */
#include "util/time.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
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

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: RFC 3339 years have 4 digits. */
#define RFC3339_MIN_MS (-62167219200000LL)
#define RFC3339_MAX_MS (253402300799999LL)

void
time_format_rfc3339(int64_t wall_ms, char *out, size_t outlen)
{
	int64_t sec, ms;
	time_t t;
	struct tm tm;

	if (wall_ms < RFC3339_MIN_MS)
		wall_ms = RFC3339_MIN_MS;
	if (wall_ms > RFC3339_MAX_MS)
		wall_ms = RFC3339_MAX_MS;
	/* Floor division, so times before 1970 get a non-negative millisecond part. */
	sec = wall_ms / 1000;
	ms = wall_ms % 1000;
	if (ms < 0) {
		ms += 1000;
		sec--;
	}
	t = (time_t)sec;
	memset(&tm, 0, sizeof(tm));
	gmtime_r(&t, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
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

static int
days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Reads exactly n ASCII digits at *pp into *out and moves *pp past them; false (and
 * nothing moved) when they are not there. */
static bool
take_digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	*pp = p + n;
	return true;
}

/* Moves *pp past one character of set; false when the next one is not in it. */
static bool
take_char(const char **pp, const char *set)
{
	if (**pp == '\0' || strchr(set, **pp) == NULL)
		return false;
	(*pp)++;
	return true;
}

/*
 * date-time = YYYY "-" MM "-" DD ("T" / "t" / " ") hh ":" mm ":" ss ["." 1*DIGIT]
 *             ("Z" / "z" / ("+" / "-") hh ":" mm)   (RFC 3339 §5.6)
 * Fixed-width fields, ranges checked (Feb 30 is an error, ss may be 60 for a leap
 * second), fractions past milliseconds are dropped. A missing offset is read as UTC.
 */
int
time_parse_rfc3339(const char *s, int64_t *wall_ms)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, ms = 0, scale = 100;
	const char *p = s;

	if (!take_digits(&p, 4, &y) || !take_char(&p, "-") || !take_digits(&p, 2, &mo) ||
	    !take_char(&p, "-") || !take_digits(&p, 2, &d) || !take_char(&p, "Tt ") ||
	    !take_digits(&p, 2, &h) || !take_char(&p, ":") || !take_digits(&p, 2, &mi) ||
	    !take_char(&p, ":") || !take_digits(&p, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!take_digits(&p, 2, &oh) || !take_char(&p, ":") || !take_digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
	}
	if (*p != '\0')
		return -1;
	*wall_ms = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	               sec - (int64_t)sign * (oh * 60 + om) * 60) *
	        1000 +
	    ms;
	return 0;
}
