/*
 * stream.h -- one incremental decoder for Server-Sent Events, NDJSON and the
 *             OpenSandbox execd event stream.
 *
 * Modes:
 *   STREAM_SSE     WHATWG HTML "Server-sent events" §9.2.6 (interpreting an event
 *                  stream): CR, LF and CRLF line ends (also a CR ending one read and
 *                  its LF starting the next), one leading UTF-8 BOM dropped, comment
 *                  lines, "data" lines joined with "\n", "event", "id" (ignored when
 *                  it holds a NUL; it persists across events), "retry" (digits only),
 *                  a field without a colon, one space after the colon dropped,
 *                  dispatch on a blank line, no dispatch with an empty data buffer,
 *                  and an unfinished event discarded at EOF.
 *   STREAM_NDJSON  one JSON text per LF-terminated line; a CR before the LF and JSON
 *                  whitespace around the text are dropped; blank lines are skipped;
 *                  a last line without LF is delivered by stream_end().
 *   STREAM_EXECD   execd's "text/event-stream" that is not SSE (opensandbox BRIEF §0.3):
 *                  one JSON object per line, blank lines between them; an optional
 *                  "data:" prefix is dropped; ":", "event:", "id:" and "retry:" lines
 *                  are ignored; a last line without LF (execd appends a raw error
 *                  object and closes) is delivered by stream_end(). Also decodes
 *                  /metrics/watch, which separates objects with a single LF.
 *   Every mode drops one leading UTF-8 BOM. The decoder frames; it does not parse
 *   JSON. Bytes pass through unchanged (no UTF-8 repair): json_parse() validates
 *   what it is given.
 *
 * Use (pull, picohttpparser shape): hand each read to stream_next() until DEC_MORE:
 *
 *	for (;;) {
 *		ssize_t n = stream_next(&d, p, len, &ev, e);
 *		if (n == DEC_MORE)
 *			break;			// all of p[0..len) is used up; read more
 *		if (n == DEC_ERR)
 *			goto fail;		// e holds the sentence
 *		handle(&ev);
 *		p += n, len -= n;		// continue right after the event
 *	}
 *	... at EOF: while ((r = stream_end(&d, &ev, e)) == 1) handle(&ev);
 *
 *   The next call must be given the stream's next bytes: the rest of the same read
 *   after an event, new bytes after DEC_MORE. The caller needs no buffer of its own:
 *   the decoder keeps a partial line itself. stream_feed() is the same loop with a
 *   callback, for use inside an HTTP body callback.
 *
 * Owns:    the copies it must make (a line split across reads, joined multi-line
 *          data, the last event ID); stream_dec_fini() frees them.
 * Borrows: event slices point into the caller's buffer when the event's bytes sit in
 *          that one buffer (the common case: zero copies), else into the decoder.
 *          Either way they are valid until the next call on the decoder and, for
 *          the caller's buffer, while that buffer lives.
 * Bounds:  max_event caps every line and an event's joined data; the decoder holds
 *          at most about 3 * max_event bytes. Over it: ERR_TOOBIG.
 * Errors:  DEC_ERR with one sentence in *e; errors stick, and later calls repeat it.
 * Speed:   lines are found with memchr(); no per-byte function calls.
 * Threads: a decoder belongs to one thread at a time.
 */
#ifndef NET_STREAM_H
#define NET_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"

#ifndef DEC_ERR
#define DEC_ERR (-1) /* failed; *e says why */
#endif
#ifndef DEC_MORE
#define DEC_MORE (-2) /* all input used; give more */
#endif

/* Default cap when stream_dec_init() gets 0 (and for a zero-filled decoder). */
#define STREAM_EVENT_MAX (1024 * 1024)

enum stream_mode {
	STREAM_SSE, /* zero, so a zero-filled decoder decodes SSE */
	STREAM_NDJSON,
	STREAM_EXECD,
	STREAM__MAX
};

struct stream_event {
	struct str data;  /* SSE: joined data; NDJSON/execd: one JSON text, trimmed */
	struct str type;  /* SSE: event type, "message" when none; others: "" */
	struct str id;    /* SSE: last event ID ("" when none); others: "" */
	int64_t retry_ms; /* SSE: last valid "retry" value, -1 when none; others: -1 */
};

/* All fields are private; a zero-filled struct is a valid SSE decoder with the
 * default cap. */
struct stream_dec {
	enum stream_mode mode;
	size_t max;
	struct err err;        /* sticky first error */
	unsigned char bom_len; /* bytes of a leading BOM matched so far */
	bool bom_done;
	bool skip_lf;    /* a CR ended the last line: drop an LF right after it */
	bool event_out;  /* the last call returned an event: clear it first */
	bool line_out;   /* `line` holds a line already decoded: clear it first */
	bool ended;      /* stream_end() ran */
	size_t lf_free;  /* bytes ahead known to hold no LF (SSE CR-only streams) */
	struct buf line; /* partial line carried between calls */
	/* SSE event under construction. */
	bool has_data, has_type, has_retry;
	bool data_own, type_own; /* data/type point into data_buf/type_buf */
	struct str data, type;   /* else into the input or `line` */
	struct buf data_buf, type_buf, id_buf;
	int64_t retry_ms;
};

/* Makes d a decoder for one stream in `mode`; max_event 0 means STREAM_EVENT_MAX.
 * d must be zero-filled or finalised. Never fails. */
void stream_dec_init(struct stream_dec *d, enum stream_mode mode, size_t max_event);
/* Frees the decoder's copies; d may then be initialised again. */
void stream_dec_fini(struct stream_dec *d);

/* Decodes from the start of buf[0..len). Returns the bytes consumed (>= 1) up to
 * and including the end of one event, which is in *ev; DEC_MORE when all of len
 * was consumed without completing an event; or DEC_ERR with *e set. */
ssize_t stream_next(struct stream_dec *d, const char *buf, size_t len, struct stream_event *ev,
    struct err *e);

/* Call at EOF, until it returns 0. Returns 1 with an event (NDJSON/execd: a last
 * line without a line end), 0 when the stream is done (SSE: an unfinished event is
 * discarded, as WHATWG says), or DEC_ERR. The decoder accepts no more input. */
int stream_end(struct stream_dec *d, struct stream_event *ev, struct err *e);

/* Called once per event; return 0 to go on, or non-zero (an ERR_* code with e set)
 * to stop: stream_feed() then returns that value. */
typedef int (*stream_event_fn)(void *arg, const struct stream_event *ev, struct err *e);

/* Push form: decodes all of buf[0..len) and calls fn for each event. Returns 0, the
 * decoder's ERR_* code (e set), or fn's non-zero value. */
int stream_feed(struct stream_dec *d, const char *buf, size_t len, stream_event_fn fn, void *arg,
    struct err *e);
/* Push form of stream_end(): delivers a last event if there is one. */
int stream_feed_end(struct stream_dec *d, stream_event_fn fn, void *arg, struct err *e);

/* "SSE", "NDJSON", "execd": for messages. */
const char *stream_mode_name(enum stream_mode mode);

#endif
