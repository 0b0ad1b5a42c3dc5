/*
 * stream.c -- SSE / NDJSON / execd decoding (contract in stream.h).
 *
 * The decoder works line by line. Lines that lie whole in the caller's buffer are
 * decoded in place, and the event handed back points into that buffer. Only a line
 * cut by the end of a read is copied (into `line`), and only an event still open
 * when a call returns DEC_MORE has its slices copied into data_buf/type_buf
 * ("materialised"), because the caller may reuse its buffer after DEC_MORE.
 *
 * Why the slices stay valid: an event is returned the moment its last line is
 * decoded, so nothing else is in flight; its storage (the input, `line`, data_buf)
 * is only cleared at the start of the next call (event_out, line_out).
 */
#include "net/stream.h"

#include <stdio.h>
#include <string.h>

static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };

void
stream_dec_init(struct stream_dec *d, enum stream_mode mode, size_t max_event)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode < STREAM__MAX ? mode : STREAM_SSE;
	d->max = max_event;
}

void
stream_dec_fini(struct stream_dec *d)
{
	buf_fini(&d->line);
	buf_fini(&d->data_buf);
	buf_fini(&d->type_buf);
	buf_fini(&d->id_buf);
	memset(d, 0, sizeof(*d));
}

const char *
stream_mode_name(enum stream_mode mode)
{
	switch (mode) {
	case STREAM_SSE:
		return "SSE";
	case STREAM_NDJSON:
		return "NDJSON";
	case STREAM_EXECD:
		return "execd";
	default:
		return "unknown";
	}
}

static size_t
cap_of(const struct stream_dec *d)
{
	return d->max ? d->max : STREAM_EVENT_MAX;
}

/* Records the first error in the decoder and in e; later calls repeat it. */
static ssize_t
dec_fail(struct stream_dec *d, struct err *e, int code, const char *why)
{
	err_set(&d->err, code, "%s stream: %s", stream_mode_name(d->mode), why);
	err_set(e, d->err.code, "%s", d->err.msg);
	return DEC_ERR;
}

static ssize_t
dec_toobig(struct stream_dec *d, struct err *e, const char *what)
{
	char why[160];

	snprintf(why, sizeof(why),
	    "%s is over the %zu-byte event limit, so the stream "
	    "cannot be decoded in bounded memory",
	    what, cap_of(d));
	return dec_fail(d, e, ERR_TOOBIG, why);
}

/* Appends without a cap of its own: callers check cap_of() first. */
static int
put(struct buf *b, const char *p, size_t n, struct stream_dec *d, struct err *e)
{
	struct err tmp = { 0 };

	if (buf_append(b, p, n, &tmp) != 0)
		return (int)dec_fail(d, e, tmp.code, tmp.msg);
	return 0;
}

static void
event_clear(struct stream_dec *d)
{
	d->has_data = d->has_type = false;
	d->data_own = d->type_own = false;
	d->data = d->type = (struct str){ "", 0 };
	buf_reset(&d->data_buf);
	buf_reset(&d->type_buf);
	d->event_out = false;
}

static struct str
owned(const struct buf *b)
{
	return (struct str){ b->p ? b->p : "", b->len };
}

/* Copies slices of the open event into decoder storage before the input goes away. */
static int
materialise(struct stream_dec *d, struct err *e)
{
	if (d->has_data && !d->data_own) {
		buf_reset(&d->data_buf);
		if (put(&d->data_buf, d->data.p, d->data.len, d, e) != 0)
			return -1;
		d->data = owned(&d->data_buf);
		d->data_own = true;
	}
	if (d->has_type && !d->type_own) {
		buf_reset(&d->type_buf);
		if (put(&d->type_buf, d->type.p, d->type.len, d, e) != 0)
			return -1;
		d->type = owned(&d->type_buf);
		d->type_own = true;
	}
	return 0;
}

static void
event_fill(struct stream_dec *d, struct stream_event *ev, struct str data)
{
	ev->data = data;
	ev->type = (struct str){ "", 0 };
	ev->id = (struct str){ "", 0 };
	ev->retry_ms = -1;
	d->event_out = true;
}

/* WHATWG "dispatch the event": nothing when the data buffer is empty; the type
 * buffer is reset either way. */
static int
sse_dispatch(struct stream_dec *d, struct stream_event *ev)
{
	if (!d->has_data) {
		d->has_type = false;
		return 0;
	}
	event_fill(d, ev, d->data);
	if (d->has_type && d->type.len > 0)
		ev->type = d->type;
	else
		ev->type = STR_LIT("message");
	ev->id = owned(&d->id_buf);
	ev->retry_ms = d->has_retry ? d->retry_ms : -1;
	return 1;
}

static int
sse_data(struct stream_dec *d, const char *v, size_t n, struct err *e)
{
	if (!d->has_data) {
		d->has_data = true;
		d->data = (struct str){ v, n };
		return 0;
	}
	/* A second data line: join with "\n", which needs a copy. */
	if (d->data.len + 1 + n > cap_of(d))
		return (int)dec_toobig(d, e, "an event's data");
	if (!d->data_own) {
		buf_reset(&d->data_buf);
		if (put(&d->data_buf, d->data.p, d->data.len, d, e) != 0)
			return -1;
		d->data_own = true;
	}
	if (put(&d->data_buf, "\n", 1, d, e) != 0 || put(&d->data_buf, v, n, d, e) != 0)
		return -1;
	d->data = owned(&d->data_buf);
	return 0;
}

/* Digits only, else ignored (WHATWG); saturates instead of overflowing. */
static void
sse_retry(struct stream_dec *d, const char *v, size_t n)
{
	int64_t ms = 0;
	size_t i;

	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
	}
	for (i = 0; i < n; i++) {
		if (ms > (INT64_MAX - 9) / 10) {
			ms = INT64_MAX;
			break;
		}
		ms = ms * 10 + (v[i] - '0');
	}
	d->retry_ms = ms;
	d->has_retry = true;
}

static int
sse_line(struct stream_dec *d, const char *s, size_t n, struct stream_event *ev, struct err *e)
{
	const char *colon, *v;
	size_t fn, vn;

	if (n == 0)
		return sse_dispatch(d, ev);
	if (s[0] == ':')
		return 0;
	colon = memchr(s, ':', n);
	if (colon != NULL) {
		fn = (size_t)(colon - s);
		v = colon + 1;
		vn = n - fn - 1;
		if (vn > 0 && v[0] == ' ') {
			v++;
			vn--;
		}
	} else {
		fn = n;
		v = s + n;
		vn = 0;
	}
	if (fn == 4 && memcmp(s, "data", 4) == 0)
		return sse_data(d, v, vn, e);
	if (fn == 5 && memcmp(s, "event", 5) == 0) {
		d->has_type = true;
		d->type_own = false;
		d->type = (struct str){ v, vn };
	} else if (fn == 2 && memcmp(s, "id", 2) == 0) {
		if (vn == 0 || memchr(v, '\0', vn) == NULL) {
			buf_reset(&d->id_buf);
			if (put(&d->id_buf, v, vn, d, e) != 0)
				return -1;
		}
	} else if (fn == 5 && memcmp(s, "retry", 5) == 0) {
		sse_retry(d, v, vn);
	}
	return 0;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct str
trim_ws(const char *s, size_t n)
{
	while (n > 0 && is_ws(s[0])) {
		s++;
		n--;
	}
	while (n > 0 && is_ws(s[n - 1]))
		n--;
	return (struct str){ s, n };
}

static bool
has_prefix(struct str s, const char *p, size_t n)
{
	return s.len >= n && memcmp(s.p, p, n) == 0;
}

static int
ndjson_line(struct stream_dec *d, const char *s, size_t n, struct stream_event *ev)
{
	struct str t = trim_ws(s, n);

	if (t.len == 0)
		return 0;
	event_fill(d, ev, t);
	return 1;
}

/* As both official SDKs parse it: trimmed lines, optional "data:", SSE-only lines
 * skipped. */
static int
execd_line(struct stream_dec *d, const char *s, size_t n, struct stream_event *ev)
{
	struct str t = trim_ws(s, n);

	if (t.len == 0 || t.p[0] == ':')
		return 0;
	if (has_prefix(t, "event:", 6) || has_prefix(t, "id:", 3) || has_prefix(t, "retry:", 6))
		return 0;
	if (has_prefix(t, "data:", 5)) {
		t = trim_ws(t.p + 5, t.len - 5);
		if (t.len == 0)
			return 0;
	}
	event_fill(d, ev, t);
	return 1;
}

/* Returns 1 when the line completes an event (in *ev), 0 when not, -1 on error. */
static int
line_decode(struct stream_dec *d, const char *s, size_t n, struct stream_event *ev, struct err *e)
{
	if (n > cap_of(d))
		return (int)dec_toobig(d, e, "a line");
	switch (d->mode) {
	case STREAM_NDJSON:
		return ndjson_line(d, s, n, ev);
	case STREAM_EXECD:
		return execd_line(d, s, n, ev);
	default:
		return sse_line(d, s, n, ev, e);
	}
}

/*
 * Finds the end of the line that starts at buf[pos]. On success sets *eol (first
 * byte of the line end) and *next (first byte after it) and returns true; returns
 * false when buf ends first. SSE ends lines at CR too; a CR that is the last byte
 * of buf may be the first half of a CRLF, so skip_lf drops an LF that starts the
 * next read. lf_free remembers how far no LF was seen, so a stream of CR-only
 * lines is not rescanned to its end for every line.
 */
static bool
line_find(struct stream_dec *d, const char *buf, size_t pos, size_t len, size_t *eol, size_t *next)
{
	const char *p = buf + pos, *q;
	size_t rest = len - pos, lf, cr;

	if (d->lf_free < rest) {
		q = memchr(p + d->lf_free, '\n', rest - d->lf_free);
		lf = q != NULL ? (size_t)(q - p) : rest;
	} else {
		lf = rest;
	}
	d->lf_free = lf;
	if (d->mode == STREAM_SSE && (q = memchr(p, '\r', lf)) != NULL) {
		cr = (size_t)(q - p);
		*eol = pos + cr;
		*next = pos + cr + 1;
		if (cr + 1 == rest)
			d->skip_lf = true;
		else if (p[cr + 1] == '\n')
			(*next)++;
		return true;
	}
	if (lf == rest)
		return false;
	*eol = pos + lf;
	*next = pos + lf + 1;
	return true;
}

static void
advance(struct stream_dec *d, size_t n)
{
	d->lf_free = d->lf_free > n ? d->lf_free - n : 0;
}

/*
 * Drops one leading UTF-8 BOM, which may arrive a byte at a time. Returns false
 * when all of buf was BOM prefix (need more). When the match fails, bytes matched
 * in earlier calls are no longer in any buffer, so they start the carried line.
 */
static bool
bom_skip(struct stream_dec *d, const char *buf, size_t len, size_t *pos, struct err *e)
{
	size_t i = 0, before = d->bom_len;

	while (d->bom_len < 3 && i < len && (unsigned char)buf[i] == bom[d->bom_len]) {
		d->bom_len++;
		i++;
	}
	if (d->bom_len == 3) {
		d->bom_done = true;
		*pos = i;
		return true;
	}
	if (i == len)
		return false;
	d->bom_done = true;
	*pos = 0;
	if (before > 0 && put(&d->line, (const char *)bom, before, d, e) != 0)
		return true;
	return true;
}

static int
repeat_err(struct stream_dec *d, struct err *e)
{
	err_set(e, d->err.code, "%s", d->err.msg);
	return DEC_ERR;
}

/* Clears what the previous call handed out; see the comment at the top. */
static void
call_begin(struct stream_dec *d)
{
	if (d->event_out)
		event_clear(d);
	if (d->line_out) {
		buf_reset(&d->line);
		d->line_out = false;
	}
}

ssize_t
stream_next(struct stream_dec *d, const char *buf, size_t len, struct stream_event *ev,
    struct err *e)
{
	size_t pos = 0, eol, next;
	int r;

	if (d->err.code != ERR_OK)
		return repeat_err(d, e);
	if (d->ended)
		return dec_fail(d, e, ERR_INVAL, "input given after stream_end()");
	call_begin(d);
	if (len == 0)
		return DEC_MORE;
	if (!d->bom_done && !bom_skip(d, buf, len, &pos, e))
		return DEC_MORE;
	if (d->err.code != ERR_OK)
		return DEC_ERR;
	if (d->skip_lf && pos < len) {
		d->skip_lf = false;
		if (buf[pos] == '\n') {
			pos++;
			advance(d, 1);
		}
	}

	/* The end of a line carried from the last read. */
	if (d->line.len > 0 && pos < len) {
		if (!line_find(d, buf, pos, len, &eol, &next)) {
			if (d->line.len + (len - pos) > cap_of(d))
				return dec_toobig(d, e, "a line");
			if (put(&d->line, buf + pos, len - pos, d, e) != 0)
				return DEC_ERR;
			d->lf_free = 0;
			return DEC_MORE;
		}
		if (d->line.len + (eol - pos) > cap_of(d))
			return dec_toobig(d, e, "a line");
		if (put(&d->line, buf + pos, eol - pos, d, e) != 0)
			return DEC_ERR;
		advance(d, next - pos);
		pos = next;
		d->line_out = true;
		r = line_decode(d, d->line.p, d->line.len, ev, e);
		if (r < 0)
			return DEC_ERR;
		if (r > 0)
			return (ssize_t)pos;
	}

	/* Whole lines in buf: the fast path, no copies. */
	while (pos < len && line_find(d, buf, pos, len, &eol, &next)) {
		r = line_decode(d, buf + pos, eol - pos, ev, e);
		advance(d, next - pos);
		pos = next;
		if (r < 0)
			return DEC_ERR;
		if (r > 0)
			return (ssize_t)pos;
	}

	/* A partial line is left: keep it, and the open event, past this call. */
	if (materialise(d, e) != 0)
		return DEC_ERR;
	if (d->line_out) {
		buf_reset(&d->line);
		d->line_out = false;
	}
	if (pos < len) {
		if (d->line.len + (len - pos) > cap_of(d))
			return dec_toobig(d, e, "a line");
		if (put(&d->line, buf + pos, len - pos, d, e) != 0)
			return DEC_ERR;
	}
	d->lf_free = 0;
	return DEC_MORE;
}

int
stream_end(struct stream_dec *d, struct stream_event *ev, struct err *e)
{
	int r;

	if (d->err.code != ERR_OK)
		return repeat_err(d, e);
	call_begin(d);
	if (d->ended)
		return 0;
	d->ended = true;
	if (!d->bom_done && d->bom_len > 0) {
		d->bom_done = true;
		if (put(&d->line, (const char *)bom, d->bom_len, d, e) != 0)
			return DEC_ERR;
	}
	/* WHATWG: at EOF an unfinished SSE event and partial line are discarded. */
	if (d->line.len == 0 || d->mode == STREAM_SSE)
		return 0;
	d->line_out = true;
	r = line_decode(d, d->line.p, d->line.len, ev, e);
	return r < 0 ? DEC_ERR : r;
}

int
stream_feed(struct stream_dec *d, const char *buf, size_t len, stream_event_fn fn, void *arg,
    struct err *e)
{
	struct stream_event ev;
	ssize_t n;
	int rc;

	for (;;) {
		n = stream_next(d, buf, len, &ev, e);
		if (n == DEC_MORE)
			return 0;
		if (n < 0)
			return d->err.code;
		if ((rc = fn(arg, &ev, e)) != 0)
			return rc;
		buf += n;
		len -= (size_t)n;
	}
}

int
stream_feed_end(struct stream_dec *d, stream_event_fn fn, void *arg, struct err *e)
{
	struct stream_event ev;
	int r, rc;

	while ((r = stream_end(d, &ev, e)) == 1) {
		if ((rc = fn(arg, &ev, e)) != 0)
			return rc;
	}
	return r < 0 ? d->err.code : 0;
}
