/*
 * quantity.c -- resource quantities as sandbox_create takes them, Kubernetes style.
 *
 * As Kubernetes' resource.Quantity: a decimal number with an optional exponent ("1e9") and
 * suffix, binary Ki Mi Gi Ti Pi Ei or decimal k M G T P E. "K" is rejected as Kubernetes
 * rejects it, so a value accepted here means the same on every backend; "m" (thousandths)
 * is rejected for memory because "512m" is always a mistake for 512Mi. A fraction of a
 * byte or of a millicpu is rounded up. Pure text: no system calls.
 */
#include "backends/local/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CPU_MIN_MILLI 10
#define CPU_MAX_MILLI (65536LL * 1000) /* cpu.max quotas stay far below the kernel's cap */

/* parse_decimal results besides 0 */
#define QTY_GARBAGE  (-1)
#define QTY_NEGATIVE (-2)
#define QTY_OVERFLOW (-3)

/* Reads [+]digits[.digits][(e|E)[+|-]digits] at *sp as mant * 10^scale and advances *sp.
 * "1E" is left for the caller: E alone is the exa suffix. 0 or a QTY_* code. */
static int
parse_decimal(const char **sp, uint64_t *mant, int *scale)
{
	const char *p = *sp, *frac, *end;
	int digits = 0, ex = 0, sign = 1;

	*mant = 0;
	*scale = 0;
	if (*p == '-')
		return QTY_NEGATIVE;
	if (*p == '+')
		p++;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (*mant > (UINT64_MAX - 9) / 10)
			return QTY_OVERFLOW;
		*mant = *mant * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		frac = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		digits += (int)(p - frac);
		/* Trailing zeros say nothing; dropping them keeps "1.50000000000Gi" exact. */
		for (end = p; end > frac && end[-1] == '0'; end--)
			;
		for (; frac < end; frac++, (*scale)--) {
			if (*mant > (UINT64_MAX - 9) / 10)
				return QTY_OVERFLOW;
			*mant = *mant * 10 + (uint64_t)(*frac - '0');
		}
	}
	if (digits == 0)
		return QTY_GARBAGE;
	if ((*p == 'e' || *p == 'E') &&
	    (p[1] == '+' || p[1] == '-' || (p[1] >= '0' && p[1] <= '9'))) {
		p++;
		if (*p == '+' || *p == '-')
			sign = *p++ == '-' ? -1 : 1;
		if (*p < '0' || *p > '9')
			return QTY_GARBAGE;
		for (; *p >= '0' && *p <= '9'; p++)
			if (ex < 10000)
				ex = ex * 10 + (*p - '0');
		*scale += sign * ex;
	}
	*sp = p;
	return 0;
}

/* ceil(mant * 10^scale * 2^shift) into *out: 0, QTY_OVERFLOW past INT64_MAX, or
 * QTY_GARBAGE for more than 18 decimal places (too fine to divide exactly in 64 bits). */
static int
qty_value(uint64_t mant, int scale, int shift, int64_t *out)
{
	uint64_t v = mant, d = 1, q, r, frac = 0;
	int i;

	if (mant == 0) {
		*out = 0;
		return 0;
	}
	for (; scale > 0; scale--) {
		if (v > INT64_MAX / 10)
			return QTY_OVERFLOW;
		v *= 10;
	}
	if (scale < -18)
		return QTY_GARBAGE;
	for (i = 0; i < -scale; i++)
		d *= 10;
	q = v / d;
	r = v % d;
	if (q > ((uint64_t)INT64_MAX >> shift))
		return QTY_OVERFLOW;
	q <<= shift;
	/* r * 2^shift / d by binary long division: r < d <= 10^18, so 2r never overflows. */
	for (i = 0; i < shift; i++) {
		frac <<= 1;
		r <<= 1;
		if (r >= d) {
			frac++;
			r -= d;
		}
	}
	if (r != 0)
		frac++;
	if (q > (uint64_t)INT64_MAX - frac)
		return QTY_OVERFLOW;
	*out = (int64_t)(q + frac);
	return 0;
}

int
limits_parse_memory(const char *s, int64_t *bytes, struct err *e)
{
	static const char bin[] = "KMGTPE", dec[] = "kMGTPE";
	const char *p = s, *u;
	uint64_t mant;
	int scale, shift = 0, rc;
	int64_t v = 0;

	rc = parse_decimal(&p, &mant, &scale);
	if (rc == 0 && *p != '\0') {
		if (p[1] == 'i' && p[2] == '\0' && (u = strchr(bin, p[0])) != NULL)
			shift = 10 * (int)(u - bin + 1);
		else if (p[1] == '\0' && (u = strchr(dec, p[0])) != NULL)
			scale += 3 * (int)(u - dec + 1);
		else if (strcmp(p, "K") == 0)
			return err_set(e, ERR_INVAL,
			    "resources.memory \"%.40s\" uses K: write k "
			    "for 1000 or Ki for 1024, as Kubernetes does",
			    s);
		else if (strcmp(p, "m") == 0)
			return err_set(e, ERR_INVAL,
			    "resources.memory \"%.40s\" is in thousandths "
			    "of a byte (m): write Mi or M, such as 512Mi",
			    s);
		else
			rc = QTY_GARBAGE;
	}
	if (rc == 0)
		rc = qty_value(mant, scale, shift, &v);
	if (rc == QTY_NEGATIVE)
		return err_set(e, ERR_INVAL,
		    "resources.memory \"%.40s\" is negative; ask for at "
		    "least 32Mi",
		    s);
	if (rc == QTY_OVERFLOW)
		return err_set(e, ERR_INVAL,
		    "resources.memory \"%.40s\" is too large to be a "
		    "number of bytes",
		    s);
	if (rc != 0)
		return err_set(e, ERR_INVAL,
		    "resources.memory \"%.40s\" is not a quantity: use "
		    "bytes or a suffix such as 512Mi or 2Gi",
		    s);
	if (v < LIMITS_MEMORY_MIN)
		return err_set(e, ERR_INVAL,
		    "resources.memory \"%.40s\" is below the 32Mi minimum "
		    "a sandbox needs; ask for at least 32Mi",
		    s);
	*bytes = v;
	return 0;
}

int
limits_parse_cpu(const char *s, int64_t *milli, struct err *e)
{
	const char *p = s;
	uint64_t mant;
	int scale, rc;
	int64_t v = 0;

	rc = parse_decimal(&p, &mant, &scale);
	if (rc == 0 && *p == '\0')
		scale += 3;
	else if (rc == 0 && strcmp(p, "m") != 0)
		rc = QTY_GARBAGE;
	if (rc == 0)
		rc = qty_value(mant, scale, 0, &v);
	if (rc == 0 && v > CPU_MAX_MILLI)
		rc = QTY_OVERFLOW;
	if (rc == QTY_NEGATIVE)
		return err_set(e, ERR_INVAL,
		    "resources.cpu \"%.40s\" is negative; ask for at "
		    "least 10m",
		    s);
	if (rc == QTY_OVERFLOW)
		return err_set(e, ERR_INVAL,
		    "resources.cpu \"%.40s\" is too large: the most is "
		    "%lld CPUs",
		    s, CPU_MAX_MILLI / 1000);
	if (rc != 0)
		return err_set(e, ERR_INVAL,
		    "resources.cpu \"%.40s\" is not a quantity: use CPUs "
		    "such as 1 or 0.5, or millicpus such as 500m",
		    s);
	if (v < CPU_MIN_MILLI)
		return err_set(e, ERR_INVAL,
		    "resources.cpu \"%.40s\" is below the 10m minimum; "
		    "ask for at least 10m",
		    s);
	*milli = v;
	return 0;
}

/* bytes in unit with at most maxfrac decimals, when that is exact: 0, else -1. */
static int
format_unit(int64_t bytes, uint64_t unit, const char *suffix, int maxfrac, char *out, size_t cap)
{
	uint64_t q = (uint64_t)bytes / unit, r = (uint64_t)bytes % unit;
	char frac[8] = ".";
	int n = 1;

	/* r < unit <= 2^60, so r * 10 fits. */
	for (; r != 0 && n <= maxfrac; n++) {
		r *= 10;
		frac[n] = (char)('0' + r / unit);
		r %= unit;
	}
	if (r != 0)
		return -1;
	frac[n == 1 ? 0 : n] = '\0';
	snprintf(out, cap, "%" PRIu64 "%s%s", q, frac, suffix);
	return 0;
}

void
limits_format_memory(int64_t bytes, char *out, size_t cap)
{
	static const char *const bin[] = { "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
	static const char *const dec[] = { "k", "M", "G", "T", "P", "E" };
	uint64_t b, d;
	int i, pass;

	/* Best first: the largest binary unit, then the largest decimal one, each with up to
	 * two exact decimals ("1.5Gi", "1.5G"); then any whole binary or decimal unit
	 * ("1025Mi"); else bytes. Every text parses back to the same number. */
	for (pass = 0; pass < 2 && bytes > 0; pass++) {
		for (i = 5; i >= 0; i--) {
			b = 1ULL << (10 * (i + 1));
			if ((uint64_t)bytes >= b || pass == 1) {
				if (format_unit(bytes, b, bin[i], pass == 0 ? 2 : 0, out, cap) == 0)
					return;
				if (pass == 0)
					break;
			}
		}
		for (i = 5, d = 1000000000000000000ULL; i >= 0; i--, d /= 1000) {
			if ((uint64_t)bytes >= d || pass == 1) {
				if (format_unit(bytes, d, dec[i], pass == 0 ? 2 : 0, out, cap) == 0)
					return;
				if (pass == 0)
					break;
			}
		}
	}
	snprintf(out, cap, "%" PRId64, bytes);
}

void
limits_format_cpu(int64_t milli, char *out, size_t cap)
{
	size_t n;

	if (milli % 1000 == 0)
		snprintf(out, cap, "%" PRId64, milli / 1000);
	else if (milli < 1000)
		snprintf(out, cap, "%" PRId64 "m", milli);
	else {
		snprintf(out, cap, "%" PRId64 ".%03d", milli / 1000, (int)(milli % 1000));
		for (n = strlen(out); n > 0 && out[n - 1] == '0'; n--)
			out[n - 1] = '\0';
	}
}
