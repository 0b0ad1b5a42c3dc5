/* http_parse.c -- HTTP/1.1 response heads and chunked bodies (RFC 9112), bounded. */
#include "net/http_parse.h"
#include "net/http.h"

#include <string.h>

/* RFC 9110 §5.6.2 tchar. */
static const char http_tchar[256] = { ['!'] = 1,
	['#'] = 1,
	['$'] = 1,
	['%'] = 1,
	['&'] = 1,
	['\''] = 1,
	['*'] = 1,
	['+'] = 1,
	['-'] = 1,
	['.'] = 1,
	['^'] = 1,
	['_'] = 1,
	['`'] = 1,
	['|'] = 1,
	['~'] = 1,
	['0'] = 1,
	['1'] = 1,
	['2'] = 1,
	['3'] = 1,
	['4'] = 1,
	['5'] = 1,
	['6'] = 1,
	['7'] = 1,
	['8'] = 1,
	['9'] = 1,
	['A'] = 1,
	['B'] = 1,
	['C'] = 1,
	['D'] = 1,
	['E'] = 1,
	['F'] = 1,
	['G'] = 1,
	['H'] = 1,
	['I'] = 1,
	['J'] = 1,
	['K'] = 1,
	['L'] = 1,
	['M'] = 1,
	['N'] = 1,
	['O'] = 1,
	['P'] = 1,
	['Q'] = 1,
	['R'] = 1,
	['S'] = 1,
	['T'] = 1,
	['U'] = 1,
	['V'] = 1,
	['W'] = 1,
	['X'] = 1,
	['Y'] = 1,
	['Z'] = 1,
	['a'] = 1,
	['b'] = 1,
	['c'] = 1,
	['d'] = 1,
	['e'] = 1,
	['f'] = 1,
	['g'] = 1,
	['h'] = 1,
	['i'] = 1,
	['j'] = 1,
	['k'] = 1,
	['l'] = 1,
	['m'] = 1,
	['n'] = 1,
	['o'] = 1,
	['p'] = 1,
	['q'] = 1,
	['r'] = 1,
	['s'] = 1,
	['t'] = 1,
	['u'] = 1,
	['v'] = 1,
	['w'] = 1,
	['x'] = 1,
	['y'] = 1,
	['z'] = 1 };

/* field-vchar / obs-text / SP / HTAB (RFC 9110 §5.5): anything but CTLs. */
static inline bool
http_text_ok(unsigned char c)
{
	return c >= 0x20 ? c != 0x7f : c == '\t';
}

/* Finds the end of the line starting at p: *eol is where CR LF or LF begins and the
 * return value the length including the terminator; 0 when no LF is in p[0..n).
 * A CR that is not right before the LF makes *bad true (RFC 9112 §2.2 lets a
 * recipient reject a bare CR). */
static size_t
http_line(const char *p, size_t n, size_t *eol, bool *bad)
{
	const char *lf = memchr(p, '\n', n);
	size_t l;

	*bad = false;
	if (lf == NULL) {
		const char *cr = memchr(p, '\r', n);

		/* A CR is only good as the last byte so far (its LF may follow). */
		*bad = cr != NULL && cr != p + n - 1;
		return 0;
	}
	l = (size_t)(lf - p);
	*eol = l > 0 && p[l - 1] == '\r' ? l - 1 : l;
	return l + 1;
}

/* The status line: "HTTP/1.x NNN reason". Returns bytes consumed (> 0), MORE or ERR. */
static ssize_t
http_parse_status(const char *buf, size_t len, struct http_head *h, struct err *e)
{
	static const char proto[] = "HTTP/1.";
	size_t i, n, eol = 0, ll;
	bool bad;

	/* Check what has arrived so far so garbage fails without waiting for a line. */
	n = len < 7 ? len : 7;
	if (memcmp(buf, proto, n) != 0)
		goto malformed;
	if (len > 7 && buf[7] != '0' && buf[7] != '1')
		goto malformed;
	if (len > 8 && buf[8] != ' ')
		goto malformed;
	for (i = 9; i < 12 && i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9' || (i == 9 && buf[i] == '0'))
			goto malformed;
	}
	ll = http_line(buf, len < HTTP_STATUS_LINE_BYTES_MAX ? len : HTTP_STATUS_LINE_BYTES_MAX,
	    &eol, &bad);
	if (bad)
		goto malformed;
	if (ll == 0) {
		if (len >= HTTP_STATUS_LINE_BYTES_MAX)
			return err_set(e, ERR_TOOBIG, "a status line over %d bytes",
			           HTTP_STATUS_LINE_BYTES_MAX),
			       HTTP_PARSE_ERR;
		if (len > 12 && buf[12] != ' ' && buf[12] != '\r')
			goto malformed;
		return HTTP_PARSE_MORE;
	}
	if (eol < 12)
		goto malformed;
	/* "HTTP/1.1 200" with nothing after the code is accepted (reason is optional). */
	if (eol > 12 && buf[12] != ' ')
		goto malformed;
	for (i = 13; i < eol; i++) {
		if (!http_text_ok((unsigned char)buf[i]))
			goto malformed;
	}
	h->minor_version = buf[7] - '0';
	h->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	h->reason.p = buf + (eol > 12 ? 13 : eol);
	h->reason.len = eol > 12 ? eol - 13 : 0;
	return (ssize_t)ll;
malformed:
	err_set(e, ERR_PROTO, "a malformed status line");
	return HTTP_PARSE_ERR;
}

/*
 * Header fields up to and including the empty line, in at most bytes_max bytes. `what`
 * names the section in messages; `cap_report` is the cap they quote (the whole head's
 * for a response, whose status line took part of it).
 */
static ssize_t
http_parse_fields_in(char *buf, size_t len, struct http_field *fields, size_t *nfields,
    size_t bytes_max, size_t cap_report, const char *what, struct err *e)
{
	size_t cap = *nfields, nf = 0, off = 0, lim = len < bytes_max ? len : bytes_max;

	*nfields = 0;
	for (;;) {
		size_t eol = 0, ll, i, name_end;
		const char *line = buf + off;
		struct http_field *f;
		bool bad;

		ll = http_line(line, lim - off, &eol, &bad);
		if (bad)
			goto malformed;
		if (ll == 0)
			break; /* more needed (or over the cap) */
		if (eol == 0) {
			*nfields = nf;
			return (ssize_t)(off + ll);
		}
		if (line[0] == ' ' || line[0] == '\t') {
			/* obs-fold (RFC 9112 §5.2): join with the field above by spaces. */
			if (nf == 0)
				return err_set(e, ERR_PROTO,
				           "a folded line before the first "
				           "%s field",
				           what),
				       HTTP_PARSE_ERR;
			for (i = 0; i < eol; i++) {
				if (!http_text_ok((unsigned char)line[i]))
					goto malformed;
			}
			f = &fields[nf - 1];
			/* Overwrite the line end that precedes this line. */
			for (char *q = (char *)f->value.p + f->value.len; q < line; q++)
				*q = ' ';
			if (f->value.len == 0)
				f->value.p = line;
			else
				f->value.len = (size_t)(line - f->value.p);
			f->value.len += eol;
			f->value = str_trim(f->value);
			if (f->value.len == 0)
				f->value.p = line + eol;
			off += ll;
			continue;
		}
		for (name_end = 0; name_end < eol && http_tchar[(unsigned char)line[name_end]];
		     name_end++)
			;
		if (name_end == 0 || name_end == eol || line[name_end] != ':')
			goto malformed;
		for (i = name_end + 1; i < eol; i++) {
			if (!http_text_ok((unsigned char)line[i]))
				goto malformed;
		}
		if (nf == cap)
			return err_set(e, ERR_TOOBIG, "more than %zu %s fields", cap, what),
			       HTTP_PARSE_ERR;
		f = &fields[nf++];
		f->name.p = line;
		f->name.len = name_end;
		f->value.p = line + name_end + 1;
		f->value.len = eol - name_end - 1;
		f->value = str_trim(f->value);
		if (f->value.len == 0)
			f->value.p = line + eol;
		off += ll;
	}
	if (len >= bytes_max) {
		if (cap_report >= 1024 && cap_report % 1024 == 0)
			err_set(e, ERR_TOOBIG, "%ss over %zu KiB", what, cap_report / 1024);
		else
			err_set(e, ERR_TOOBIG, "%ss over %zu bytes", what, cap_report);
		return HTTP_PARSE_ERR;
	}
	return HTTP_PARSE_MORE;
malformed:
	err_set(e, ERR_PROTO, "a malformed %s field", what);
	return HTTP_PARSE_ERR;
}

ssize_t
http_parse_response(char *buf, size_t len, struct http_head *h, struct err *e)
{
	ssize_t sl, fl;
	size_t nf = h->nfields;

	h->nfields = 0;
	if (len == 0)
		return HTTP_PARSE_MORE;
	sl = http_parse_status(buf, len, h, e);
	if (sl < 0)
		return sl;
	fl = http_parse_fields_in(buf + sl, len - (size_t)sl, h->fields, &nf,
	    HTTP_HEAD_BYTES_MAX - (size_t)sl, HTTP_HEAD_BYTES_MAX, "response header", e);
	if (fl < 0)
		return fl;
	h->nfields = nf;
	return sl + fl;
}

ssize_t
http_parse_fields(char *buf, size_t len, struct http_field *fields, size_t *nfields,
    size_t bytes_max, struct err *e)
{
	return http_parse_fields_in(buf, len, fields, nfields, bytes_max, bytes_max, "trailer", e);
}

/* ---- chunked ---------------------------------------------------------------- */

enum {
	CH_SIZE0,    /* at the start of a chunk-size line: a hex digit must come */
	CH_SIZE,     /* in the hex digits */
	CH_BWS,      /* after the digits: only SP, HTAB, ';' or the line end */
	CH_EXT,      /* chunk extensions (skipped) up to CR LF */
	CH_SIZE_LF,  /* a CR ended the size line: LF must come */
	CH_DATA,     /* `left` data bytes to go */
	CH_DATA_END, /* CR LF (or LF) after the data */
	CH_DATA_LF,  /* LF after the CR after the data */
	CH_TRAILERS, /* after the last chunk: the caller parses the trailer section */
	CH_DONE,
};

static ssize_t
http_chunk_err(struct err *e, int code, const char *what)
{
	err_set(e, code, "%s", what);
	return HTTP_PARSE_ERR;
}

ssize_t
http_chunked_decode(struct http_chunked *d, const char *in, size_t len, struct str *data,
    struct err *e)
{
	size_t i = 0;
	bool emitted = false;

	data->p = in;
	data->len = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		int v;

		switch (d->state) {
		case CH_SIZE0:
		case CH_SIZE:
			v = str_hexval(c);
			if (v >= 0) {
				if (++d->line_bytes > HTTP_CHUNK_LINE_BYTES_MAX)
					return http_chunk_err(e, ERR_TOOBIG,
					    "a chunk-size line "
					    "over 4 KiB");
				if (d->left > (UINT64_MAX >> 4))
					return http_chunk_err(e, ERR_PROTO,
					    "a chunk size that "
					    "overflows 64 bits");
				d->left = d->left << 4 | (uint64_t)v;
				d->state = CH_SIZE;
				i++;
				continue;
			}
			if (d->state == CH_SIZE0)
				return http_chunk_err(e, ERR_PROTO, "a malformed chunk size");
			d->state = CH_BWS;
			continue; /* CH_BWS looks at this byte again */
		case CH_BWS:
			if (c == ';') {
				d->state = CH_EXT;
			} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
				return http_chunk_err(e, ERR_PROTO, "a malformed chunk size");
			}
			/* fall through */
		case CH_EXT:
			if (c == '\n' || c == '\r') {
				d->state = c == '\r' ? CH_SIZE_LF : CH_DATA;
				i++;
				if (c == '\n')
					goto line_done;
				continue;
			}
			if (++d->line_bytes > HTTP_CHUNK_LINE_BYTES_MAX)
				return http_chunk_err(e, ERR_TOOBIG,
				    "a chunk-size line over 4 KiB");
			if (!http_text_ok(c))
				return http_chunk_err(e, ERR_PROTO, "a malformed chunk extension");
			i++;
			continue;
		case CH_SIZE_LF:
			if (c != '\n')
				return http_chunk_err(e, ERR_PROTO,
				    "a chunk-size line with a CR "
				    "but no LF");
			i++;
line_done:
			d->line_bytes = 0;
			d->state = d->left == 0 ? CH_TRAILERS : CH_DATA;
			if (d->state == CH_TRAILERS)
				return (ssize_t)i;
			continue;
		case CH_DATA: {
			size_t n = len - i;

			if (emitted)
				return (ssize_t)i; /* one data run per call */
			if ((uint64_t)n > d->left)
				n = (size_t)d->left;
			data->p = in + i;
			data->len = n;
			d->left -= n;
			i += n;
			emitted = true;
			if (d->left == 0)
				d->state = CH_DATA_END;
			continue;
		}
		case CH_DATA_END:
			if (c == '\r') {
				d->state = CH_DATA_LF;
				i++;
				continue;
			}
			if (c != '\n')
				return http_chunk_err(e, ERR_PROTO,
				    "chunk data longer than its "
				    "size");
			i++;
			d->state = CH_SIZE0;
			continue;
		case CH_DATA_LF:
			if (c != '\n')
				return http_chunk_err(e, ERR_PROTO,
				    "chunk data longer than its "
				    "size");
			i++;
			d->state = CH_SIZE0;
			continue;
		case CH_TRAILERS:
		case CH_DONE:
			return (ssize_t)i;
		default:
			return http_chunk_err(e, ERR_PROTO,
			    "a chunked body the decoder lost "
			    "track of");
		}
	}
	return (ssize_t)i;
}

bool
http_chunked_in_trailers(const struct http_chunked *d)
{
	return d->state == CH_TRAILERS;
}

void
http_chunked_end(struct http_chunked *d)
{
	d->state = CH_DONE;
}

bool
http_chunked_done(const struct http_chunked *d)
{
	return d->state == CH_DONE;
}
