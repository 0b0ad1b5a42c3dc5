/*
 * connect.h -- Connect-RPC (connectrpc.com/docs/protocol) over net/http: envelopes,
 *              unary and server-streaming calls, errors as a code and a sentence.
 *
 * Payloads are opaque bytes: the caller encodes and decodes its messages (nanopb in
 * the e2b backend); this module never sees protobuf. Requests go out as
 * application/proto (unary) or application/connect+proto (streaming) with
 * Connect-Protocol-Version: 1 and, when the call has a deadline, Connect-Timeout-Ms.
 * Compression is never negotiated, so a compressed response is an error.
 *
 * Envelope:  flags(1) | length(4, big-endian) | payload. Flag 0x01 = compressed
 *            (refused), 0x02 = end of stream; its payload is always JSON:
 *            {"error":{"code","message","details"},"metadata":{...}} or {}.
 *            Other flag bits are reserved and ignored.
 * Decoder:   connect_dec_next() has the picohttpparser shape of net/stream.h: fed
 *            arbitrary splits, it returns one frame at a time, zero-copy when the
 *            frame lies in the caller's buffer, else in the decoder. The slice is
 *            valid until the next call. A zero-filled decoder is valid (default cap).
 * Errors:    calls return 0 or an ERR_* code with one sentence in *e. When the server
 *            (or a proxy in front of it) answered, the sentence is "<code>: <message>",
 *            e.g. "not_found: process with pid 12 not found", and *st says which
 *            Connect code it was, so callers can test st->code == CONNECT_NOT_FOUND.
 *            A non-200 response whose body is not a Connect error (envd's 401 JSON
 *            with a numeric code, a proxy's text/plain 502) gets its code from the
 *            HTTP status, as connect-go and connect-es do; st->from_http says so.
 *            Transport failures keep net/http's code and sentence; st->code is then
 *            canceled, deadline_exceeded, resource_exhausted (a cap) or unavailable,
 *            and broken framing is ERR_PROTO with internal; st->remote is false for
 *            all of these, so a caller rewrites e only when st->remote is true.
 * Owns:      struct connect_dec's copies (connect_dec_fini frees them); messages in
 *            st live in the caller's arena.
 * Borrows:   the http client, call and request bytes during the call.
 * Threads:   a call runs on the calling thread; the http client may be shared.
 */
#ifndef NET_CONNECT_H
#define NET_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/http.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/err.h"
#include "util/str.h"

#ifndef DEC_ERR
#define DEC_ERR (-1)
#endif
#ifndef DEC_MORE
#define DEC_MORE (-2)
#endif

#define CONNECT_FLAG_COMPRESSED 0x01
#define CONNECT_FLAG_END        0x02
#define CONNECT_ENVELOPE_HEAD   5
/* Default cap on one message (and on the end-of-stream JSON) when 0 is given. */
#define CONNECT_MESSAGE_MAX (16 * 1024 * 1024)
/* At most this much of a non-200 body is read to find a Connect error in it. */
#define CONNECT_ERROR_BODY_MAX (64 * 1024)

/* Connect codes; the numbers are gRPC's. */
enum connect_code {
	CONNECT_OK = 0,
	CONNECT_CANCELED = 1,
	CONNECT_UNKNOWN = 2,
	CONNECT_INVALID_ARGUMENT = 3,
	CONNECT_DEADLINE_EXCEEDED = 4,
	CONNECT_NOT_FOUND = 5,
	CONNECT_ALREADY_EXISTS = 6,
	CONNECT_PERMISSION_DENIED = 7,
	CONNECT_RESOURCE_EXHAUSTED = 8,
	CONNECT_FAILED_PRECONDITION = 9,
	CONNECT_ABORTED = 10,
	CONNECT_OUT_OF_RANGE = 11,
	CONNECT_UNIMPLEMENTED = 12,
	CONNECT_INTERNAL = 13,
	CONNECT_UNAVAILABLE = 14,
	CONNECT_DATA_LOSS = 15,
	CONNECT_UNAUTHENTICATED = 16,
	CONNECT__MAX
};

/* "not_found"; "ok" for 0; "unknown" for anything out of range. */
const char *connect_code_name(int code);
/* The code named s[0..n) ("not_found"), or -1 when it names none. */
int connect_code_parse(const char *s, size_t n);
/* The code a client assumes for an HTTP status whose body is no Connect error:
 * 400 internal, 401 unauthenticated, 403 permission_denied, 404 unimplemented,
 * 429/502/503/504 unavailable, else unknown (200 gives ok). */
int connect_code_from_http(int status);
/* The ERR_* code for a Connect code: canceled ERR_CANCELLED, deadline_exceeded
 * ERR_TIMEOUT, not_found ERR_NOTFOUND, already_exists ERR_EXISTS, unimplemented
 * ERR_UNSUPPORTED, invalid_argument/out_of_range/failed_precondition ERR_INVAL, the
 * rest ERR_BACKEND; ok gives ERR_OK. */
int connect_code_err(int code);

/* What the server said about a call. */
struct connect_status {
	int code;            /* CONNECT_OK or a CONNECT_* code */
	const char *message; /* the server's message, in the arena; "" when none */
	int http_status;     /* the response's status; 0 when no response arrived */
	bool remote;         /* code and message are the server's (or a proxy's) answer:
				 * Connect JSON, an end-of-stream error or an HTTP status.
				 * false: the failure is ours (transport, framing, a cap, the
				 * deadline, the reader) and *e already holds the sentence */
	bool from_http;      /* remote, with the code derived from the HTTP status */
};

/* ---- envelopes ---- */

/* Appends one envelope (flags, then n payload bytes) to out. ERR_TOOBIG when n does
 * not fit in 32 bits or out's cap is reached. */
int connect_envelope_put(struct buf *out, unsigned flags, const void *p, size_t n, struct err *e);

struct connect_frame {
	unsigned flags; /* CONNECT_FLAG_END or 0 (reserved bits as sent) */
	struct str payload;
};

/* All fields are private; zero-filled is a valid decoder with the default cap. */
struct connect_dec {
	size_t max;
	struct err err; /* sticky first error */
	unsigned char head[CONNECT_ENVELOPE_HEAD];
	size_t head_len; /* bytes of the current head seen so far */
	size_t need;     /* payload bytes of the current frame still missing */
	struct buf msg;  /* a payload split across reads */
	bool msg_out;    /* msg was handed out: clear it first */
	bool ended;      /* the end-of-stream frame was returned */
};

void connect_dec_init(struct connect_dec *d, size_t max_message);
void connect_dec_fini(struct connect_dec *d);
/* Decodes from buf[0..len): returns bytes consumed (>= 1) through the end of one
 * frame, in *f; DEC_MORE when all of len was used without completing one; DEC_ERR
 * with *e (ERR_PROTO: compressed frame, data after the end of stream; ERR_TOOBIG:
 * payload over max). Errors stick. */
ssize_t connect_dec_next(struct connect_dec *d, const char *buf, size_t len,
    struct connect_frame *f, struct err *e);
/* At EOF: 0 when the stream stopped between frames, or ERR_PROTO when inside one. */
int connect_dec_end(struct connect_dec *d, struct err *e);
/* True once the end-of-stream frame went out. */
bool connect_dec_ended(const struct connect_dec *d);

/* Parses an end-of-stream payload into *st (message in a). Returns 0 (st->code is
 * CONNECT_OK for "{}"), or ERR_PROTO when it is not the JSON object Connect defines. */
int connect_end_parse(const char *p, size_t n, struct connect_status *st, struct arena *a,
    struct err *e);
/* Reads a non-200 body: a Connect error JSON {"code":"<name>","message":...} gives
 * its code and message; anything else the code of the HTTP status, with a message
 * taken from a JSON "message" string or the first line of a text body. Never fails. */
void connect_error_body(int http_status, const char *reason, const char *p, size_t n,
    struct connect_status *st, struct arena *a);
/* Sets *e to "<code name>: <message>" (control bytes become spaces) and returns
 * connect_code_err(st->code). */
int connect_status_err(const struct connect_status *st, struct err *e);

/* ---- calls ---- */

struct connect_call {
	const char *base_url;              /* "http://host:49983" or with a path prefix */
	const char *procedure;             /* "/process.Process/Start" */
	const struct http_header *headers; /* extra headers (auth, routing), or NULL */
	size_t nheaders;
	int64_t deadline;      /* absolute monotonic ms; 0 or DEADLINE_NONE: none */
	int idle_timeout_ms;   /* as in struct http_request */
	struct cancel *cancel; /* may be NULL */
	size_t max_message;    /* cap on one response message; 0: CONNECT_MESSAGE_MAX */
	bool idempotent;       /* unary only: may be retried once on a stale connection */
};

/* Unary call: sends req[0..req_len) as the bare message and appends the response
 * message to *resp (the caller's buf). Returns 0, or an ERR_* code with *st and *e
 * set as described at the top. */
int connect_unary(struct http_client *c, const struct connect_call *call, const void *req,
    size_t req_len, struct buf *resp, struct connect_status *st, struct arena *a, struct err *e);

/* Receives one streamed message; valid during the call only. Return 0 to go on,
 * CONNECT_STOP to end the call early (connect_stream then returns 0 and closes the
 * connection), or an ERR_* code with *e set to abort with it. */
typedef int (*connect_msg_fn)(void *arg, const char *p, size_t n, struct err *e);
#define CONNECT_STOP (-1)

/* Server-streaming call: sends req as one envelope, hands each response message to
 * on_msg, and maps the end-of-stream error. A stream that ends without its
 * end-of-stream message is an error (internal); once that message arrived, a broken
 * connection after it no longer matters. When on_msg fails, its code is returned
 * with st->code canceled. Returns 0 or an ERR_* code. */
int connect_stream(struct http_client *c, const struct connect_call *call, const void *req,
    size_t req_len, connect_msg_fn on_msg, void *arg, struct connect_status *st, struct arena *a,
    struct err *e);

#endif
