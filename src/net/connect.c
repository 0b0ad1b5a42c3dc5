/*
 * connect.c -- Connect-RPC envelopes and calls (contract in connect.h).
 *
 * Error codes follow connect-go: what the server says in Connect JSON wins; a
 * non-200 response without it gets the code of its HTTP status; broken framing
 * (compressed or cut envelopes, a missing end-of-stream message, a wrong content
 * type) is ERR_PROTO with code internal; transport failures keep net/http's sentence.
 */
#include "net/connect.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json/json.h"
#include "util/time.h"

static const char *const code_names[CONNECT__MAX] = { "ok", "canceled", "unknown",
	"invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied",
	"resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented",
	"internal", "unavailable", "data_loss", "unauthenticated" };

/* Said when the server gives a code without a message. */
static const char *const code_sentences[CONNECT__MAX] = {
	"the call succeeded",
	"the call was canceled",
	"the server failed without saying why",
	"the server rejected an argument of the call",
	"the deadline passed before the call finished",
	"the requested object was not found",
	"the object already exists",
	"the caller may not do this",
	"a resource (quota, disk, rate limit) is exhausted",
	"the target is not in a state this call needs",
	"the call was aborted by a conflict; retry it",
	"a value is out of range",
	"the server does not implement this call",
	"the server hit an internal error",
	"the service is unavailable; retry later",
	"data was lost or corrupted",
	"the request lacks valid credentials",
};

const char *
connect_code_name(int code)
{
	return code >= 0 && code < CONNECT__MAX ? code_names[code] : "unknown";
}

int
connect_code_parse(const char *s, size_t n)
{
	int i;

	for (i = 1; i < CONNECT__MAX; i++) {
		if (strlen(code_names[i]) == n && memcmp(code_names[i], s, n) == 0)
			return i;
	}
	return -1;
}

int
connect_code_from_http(int status)
{
	switch (status) {
	case 200:
		return CONNECT_OK;
	case 400:
		return CONNECT_INTERNAL;
	case 401:
		return CONNECT_UNAUTHENTICATED;
	case 403:
		return CONNECT_PERMISSION_DENIED;
	case 404:
		return CONNECT_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return CONNECT_UNAVAILABLE;
	default:
		return CONNECT_UNKNOWN;
	}
}

int
connect_code_err(int code)
{
	switch (code) {
	case CONNECT_OK:
		return ERR_OK;
	case CONNECT_CANCELED:
		return ERR_CANCELLED;
	case CONNECT_DEADLINE_EXCEEDED:
		return ERR_TIMEOUT;
	case CONNECT_NOT_FOUND:
		return ERR_NOTFOUND;
	case CONNECT_ALREADY_EXISTS:
		return ERR_EXISTS;
	case CONNECT_UNIMPLEMENTED:
		return ERR_UNSUPPORTED;
	case CONNECT_INVALID_ARGUMENT:
	case CONNECT_OUT_OF_RANGE:
	case CONNECT_FAILED_PRECONDITION:
		return ERR_INVAL;
	default:
		return ERR_BACKEND;
	}
}

/* ---- envelopes ---- */

int
connect_envelope_put(struct buf *out, unsigned flags, const void *p, size_t n, struct err *e)
{
	unsigned char h[CONNECT_ENVELOPE_HEAD];
	int rc;

	if (n > 0xffffffffu)
		return err_set(e, ERR_TOOBIG,
		    "Connect message of %zu bytes is over the 4 GiB "
		    "envelope limit",
		    n);
	h[0] = (unsigned char)flags;
	h[1] = (unsigned char)(n >> 24);
	h[2] = (unsigned char)(n >> 16);
	h[3] = (unsigned char)(n >> 8);
	h[4] = (unsigned char)n;
	if ((rc = buf_reserve(out, sizeof(h) + n, e)) != 0)
		return rc;
	if ((rc = buf_append(out, h, sizeof(h), e)) != 0)
		return rc;
	return buf_append(out, p, n, e);
}

void
connect_dec_init(struct connect_dec *d, size_t max_message)
{
	memset(d, 0, sizeof(*d));
	d->max = max_message;
}

void
connect_dec_fini(struct connect_dec *d)
{
	buf_fini(&d->msg);
	memset(d, 0, sizeof(*d));
}

bool
connect_dec_ended(const struct connect_dec *d)
{
	return d->ended;
}

static ssize_t __attribute__((format(printf, 4, 5)))
dec_fail(struct connect_dec *d, struct err *e, int code, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	err_set(&d->err, code, "Connect stream: %s", why);
	err_set(e, d->err.code, "%s", d->err.msg);
	return DEC_ERR;
}

static ssize_t
frame_out(struct connect_dec *d, struct connect_frame *f, const char *p, size_t n, size_t used)
{
	f->flags = d->head[0];
	f->payload = (struct str){ p, n };
	d->head_len = 0;
	d->need = 0;
	if (d->head[0] & CONNECT_FLAG_END)
		d->ended = true;
	return (ssize_t)used;
}

ssize_t
connect_dec_next(struct connect_dec *d, const char *buf, size_t len, struct connect_frame *f,
    struct err *e)
{
	size_t pos = 0, take, max = d->max ? d->max : CONNECT_MESSAGE_MAX;
	struct err tmp = { 0 };

	if (d->err.code != ERR_OK) {
		err_set(e, d->err.code, "%s", d->err.msg);
		return DEC_ERR;
	}
	if (d->msg_out) {
		buf_reset(&d->msg);
		d->msg_out = false;
	}
	if (len == 0)
		return DEC_MORE;
	if (d->ended)
		return dec_fail(d, e, ERR_PROTO,
		    "the server sent %zu bytes after the "
		    "end-of-stream message",
		    len);
	if (d->head_len < CONNECT_ENVELOPE_HEAD) {
		take = CONNECT_ENVELOPE_HEAD - d->head_len;
		if (take > len)
			take = len;
		memcpy(d->head + d->head_len, buf, take);
		d->head_len += take;
		pos = take;
		if (d->head_len < CONNECT_ENVELOPE_HEAD)
			return DEC_MORE;
		d->need = (size_t)d->head[1] << 24 | (size_t)d->head[2] << 16 |
		    (size_t)d->head[3] << 8 | d->head[4];
		if (d->head[0] & CONNECT_FLAG_COMPRESSED)
			return dec_fail(d, e, ERR_PROTO,
			    "the server sent a compressed message "
			    "(%zu bytes) although no compression was negotiated",
			    d->need);
		if (d->need > max)
			return dec_fail(d, e, ERR_TOOBIG,
			    "a message of %zu bytes is over the "
			    "%zu-byte limit",
			    d->need, max);
	}
	/* The whole payload is in this buffer: hand out a slice of it. */
	if (d->msg.len == 0 && len - pos >= d->need)
		return frame_out(d, f, buf + pos, d->need, pos + d->need);
	take = len - pos < d->need ? len - pos : d->need;
	if (buf_append(&d->msg, buf + pos, take, &tmp) != 0)
		return dec_fail(d, e, tmp.code, "cannot hold a message of %zu bytes", d->need);
	d->need -= take;
	pos += take;
	if (d->need > 0)
		return DEC_MORE;
	d->msg_out = true;
	return frame_out(d, f, d->msg.p, d->msg.len, pos);
}

int
connect_dec_end(struct connect_dec *d, struct err *e)
{
	if (d->err.code != ERR_OK)
		return err_set(e, d->err.code, "%s", d->err.msg);
	if (d->head_len > 0 && d->head_len < CONNECT_ENVELOPE_HEAD)
		dec_fail(d, e, ERR_PROTO,
		    "the stream ended inside an envelope header (%zu of "
		    "5 bytes)",
		    d->head_len);
	else if (d->head_len == CONNECT_ENVELOPE_HEAD)
		dec_fail(d, e, ERR_PROTO,
		    "the stream ended inside a message (%zu of %zu "
		    "bytes missing)",
		    d->need, d->msg.len + d->need);
	return d->err.code;
}

/* ---- status ---- */

static void
status_reset(struct connect_status *st)
{
	st->code = CONNECT_OK;
	st->message = "";
	st->http_status = 0;
	st->remote = false;
	st->from_http = false;
}

/* The call failed on our side: e holds the sentence, the code is only a summary. */
static void
status_local(struct connect_status *st, int code)
{
	st->code = code;
	st->remote = false;
	st->from_http = false;
}

/* Copies text for a message: control bytes become spaces, runs of space collapse,
 * at most `max` bytes. Returns "" when the arena is full. */
static const char *
clean_text(struct arena *a, const char *p, size_t n, size_t max)
{
	char *s, *q;
	size_t i;

	if (n > max)
		n = max;
	s = arena_alloc(a, n + 1);
	if (s == NULL)
		return "";
	q = s;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = ' ';
		if (c == ' ' && (q == s || q[-1] == ' '))
			continue;
		*q++ = c;
	}
	while (q > s && q[-1] == ' ')
		q--;
	*q = '\0';
	return s;
}

/* Fills st from a Connect error object {"code","message","details"}. */
static void
error_object(const struct json *obj, struct connect_status *st, struct arena *a)
{
	const struct json *code = json_get(obj, "code");
	const struct json *msg = json_get(obj, "message");
	int c = -1;

	if (code != NULL && code->type == JSON_STRING)
		c = connect_code_parse(code->s, code->len);
	st->code = c > 0 ? c : CONNECT_UNKNOWN;
	if (msg != NULL && msg->type == JSON_STRING)
		st->message = clean_text(a, msg->s, msg->len, 1024);
}

int
connect_end_parse(const char *p, size_t n, struct connect_status *st, struct arena *a,
    struct err *e)
{
	const struct json *root, *er;

	root = json_parse(p, n, a, NULL);
	if (root == NULL || root->type != JSON_OBJECT)
		return err_set(e, ERR_PROTO,
		    "Connect stream: the end-of-stream message is not "
		    "a JSON object, so the call's outcome is unknown");
	er = json_get(root, "error");
	if (er == NULL || er->type == JSON_NULL) {
		st->code = CONNECT_OK;
		return 0;
	}
	if (er->type != JSON_OBJECT)
		return err_set(e, ERR_PROTO,
		    "Connect stream: the end-of-stream \"error\" is "
		    "not a JSON object, so the call's outcome is unknown");
	error_object(er, st, a);
	st->remote = true;
	return 0;
}

void
connect_error_body(int http_status, const char *reason, const char *p, size_t n,
    struct connect_status *st, struct arena *a)
{
	const struct json *root = NULL, *code, *msg;
	const char *nl;
	int c;

	st->http_status = http_status;
	st->code = connect_code_from_http(http_status);
	st->remote = true;
	st->from_http = true;
	st->message = "";
	if (n > 0)
		root = json_parse(p, n, a, NULL);
	if (root != NULL && root->type == JSON_OBJECT) {
		code = json_get(root, "code");
		msg = json_get(root, "message");
		c = code != NULL && code->type == JSON_STRING
		    ? connect_code_parse(code->s, code->len)
		    : -1;
		if (c > 0) {
			st->code = c;
			st->from_http = false;
		}
		if (msg != NULL && msg->type == JSON_STRING)
			st->message = clean_text(a, msg->s, msg->len, 1024);
	} else if (n > 0 && p[0] != '<' && p[0] != '{' && p[0] != '[') {
		/* A proxy's text: its first line says what went wrong. */
		nl = memchr(p, '\n', n);
		st->message = clean_text(a, p, nl != NULL ? (size_t)(nl - p) : n, 200);
	}
	if (st->message[0] == '\0' && reason != NULL && st->from_http)
		st->message = clean_text(a, reason, strlen(reason), 100);
}

int
connect_status_err(const struct connect_status *st, struct err *e)
{
	const char *name = connect_code_name(st->code);
	const char *msg = st->message != NULL ? st->message : "";
	int code = connect_code_err(st->code);

	if (st->from_http)
		return err_set(e, code,
		    "%s: the server answered HTTP %d, not a Connect "
		    "response%s%s",
		    name, st->http_status, msg[0] ? ": " : "", msg);
	if (msg[0] == '\0')
		msg = st->code >= 0 && st->code < CONNECT__MAX ? code_sentences[st->code]
		                                               : code_sentences[CONNECT_UNKNOWN];
	return err_set(e, code, "%s: %s", name, msg);
}

/* ---- calls ---- */

struct call {
	const struct connect_call *call;
	struct connect_status *st;
	struct http_response rs;
	struct arena *a;
	bool streaming;
	bool head_checked;
	int head_rc; /* non-zero: the head was refused (st, e set) */
	size_t max;
	/* unary */
	struct buf *resp;
	size_t resp_start;
	/* non-200 */
	struct buf errbody;
	/* streaming */
	struct connect_dec dec;
	connect_msg_fn on_msg;
	void *arg;
	bool got_end, stopped;
	int own_rc; /* an error we (or on_msg) raised inside the body callback */
};

/* True when the media type in `value` is `want` (case-insensitive, parameters ignored). */
static bool
media_is(const char *value, const char *want)
{
	size_t n = strlen(want);

	while (*value == ' ' || *value == '\t')
		value++;
	return strncasecmp(value, want, n) == 0 &&
	    (value[n] == '\0' || value[n] == ';' || value[n] == ' ' || value[n] == '\t');
}

static int __attribute__((format(printf, 4, 5)))
proto_fail(struct call *k, struct err *e, int code, const char *fmt, ...)
{
	char why[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	status_local(k->st, code == ERR_TOOBIG ? CONNECT_RESOURCE_EXHAUSTED : CONNECT_INTERNAL);
	err_set(e, code, "%s", why);
	return code;
}

/* A 200 must carry what we can decode. Non-200 heads pass: their body is read as
 * an error. */
static int
check_head(struct call *k, struct err *e)
{
	const char *ct, *enc;
	const char *want = k->streaming ? "application/connect+proto" : "application/proto";

	if (k->head_checked)
		return k->head_rc;
	k->head_checked = true;
	k->st->http_status = k->rs.status;
	if (k->rs.status != 200)
		return 0;
	ct = http_response_header(&k->rs, "Content-Type");
	if (ct != NULL && !media_is(ct, want))
		return k->head_rc = proto_fail(k, e, ERR_PROTO,
		           "the server answered 200 with "
		           "Content-Type \"%.60s\", not a Connect response; check the URL",
		           ct);
	enc = http_response_header(&k->rs,
	    k->streaming ? "Connect-Content-Encoding" : "Content-Encoding");
	if (enc != NULL && !media_is(enc, "identity"))
		return k->head_rc = proto_fail(k, e, ERR_PROTO,
		           "the server compressed its "
		           "response (\"%.40s\") although no compression was negotiated",
		           enc);
	return 0;
}

static int
stream_bytes(struct call *k, const char *p, size_t n, struct err *e)
{
	struct connect_frame f;
	ssize_t r;
	int rc;

	while (n > 0) {
		r = connect_dec_next(&k->dec, p, n, &f, e);
		if (r == DEC_MORE)
			return 0;
		if (r == DEC_ERR) {
			status_local(k->st,
			    k->dec.err.code == ERR_TOOBIG ? CONNECT_RESOURCE_EXHAUSTED
			                                  : CONNECT_INTERNAL);
			return k->own_rc = k->dec.err.code;
		}
		p += r;
		n -= (size_t)r;
		if (f.flags & CONNECT_FLAG_END) {
			if ((rc = connect_end_parse(f.payload.p, f.payload.len, k->st, k->a, e))) {
				status_local(k->st, CONNECT_INTERNAL);
				return k->own_rc = rc;
			}
			k->got_end = true;
			continue;
		}
		rc = k->on_msg(k->arg, f.payload.p, f.payload.len, e);
		if (rc == CONNECT_STOP) {
			k->stopped = true;
			return HTTP_STOP;
		}
		if (rc != 0) {
			status_local(k->st, CONNECT_CANCELED);
			err_set(e, rc, "the Connect stream was stopped by its reader");
			return k->own_rc = rc;
		}
	}
	return 0;
}

static int
on_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct call *k = arg;
	struct err tmp = { 0 };
	size_t room;
	int rc;

	if ((rc = check_head(k, e)) != 0)
		return k->own_rc = rc;
	if (k->rs.status != 200) {
		room = CONNECT_ERROR_BODY_MAX - k->errbody.len;
		if (buf_append(&k->errbody, p, n < room ? n : room, &tmp) != 0)
			return HTTP_STOP;
		return n < room ? 0 : HTTP_STOP; /* enough to read the error */
	}
	if (k->streaming)
		return stream_bytes(k, p, n, e);
	if (k->resp->len - k->resp_start + n > k->max) {
		k->own_rc = proto_fail(k, e, ERR_TOOBIG,
		    "the Connect response is over the "
		    "%zu-byte message limit",
		    k->max);
		return k->own_rc;
	}
	if (buf_append(k->resp, p, n, &tmp) != 0) {
		err_set(e, tmp.code, "%s", tmp.msg);
		status_local(k->st, CONNECT_RESOURCE_EXHAUSTED);
		return k->own_rc = tmp.code;
	}
	return 0;
}

static int
transport_code(int rc)
{
	switch (rc) {
	case ERR_TIMEOUT:
		return CONNECT_DEADLINE_EXCEEDED;
	case ERR_CANCELLED:
		return CONNECT_CANCELED;
	case ERR_TOOBIG:
		return CONNECT_RESOURCE_EXHAUSTED;
	default:
		return CONNECT_UNAVAILABLE;
	}
}

static int
call_run(struct http_client *c, struct call *k, const void *body, size_t body_len, struct err *e)
{
	const struct connect_call *call = k->call;
	struct http_request rq;
	struct http_header *h;
	const char *base = call->base_url ? call->base_url : "";
	const char *proc = call->procedure ? call->procedure : "";
	size_t bn = strlen(base), nh = 0, i;
	int64_t left;
	char *url, tmo[24];
	int rc;

	while (bn > 0 && base[bn - 1] == '/')
		bn--;
	url = arena_printf(k->a, "%.*s%s%s", (int)bn, base, proc[0] == '/' ? "" : "/", proc);
	h = arena_alloc(k->a, (call->nheaders + 3) * sizeof(*h));
	if (url == NULL || h == NULL) {
		status_local(k->st, CONNECT_RESOURCE_EXHAUSTED);
		return err_set(e, ERR_TOOBIG, "Connect call: the request arena is full");
	}
	h[nh++] = (struct http_header){ "Content-Type",
		k->streaming ? "application/connect+proto" : "application/proto" };
	h[nh++] = (struct http_header){ "Connect-Protocol-Version", "1" };
	if (call->deadline != 0 && call->deadline != DEADLINE_NONE) {
		left = call->deadline - time_mono_ms();
		if (left <= 0) {
			status_local(k->st, CONNECT_DEADLINE_EXCEEDED);
			return err_set(e, ERR_TIMEOUT,
			    "deadline_exceeded: the deadline passed "
			    "before %s was called",
			    proc);
		}
		if (left > 9999999999LL) /* the header allows 10 digits */
			left = 9999999999LL;
		snprintf(tmo, sizeof(tmo), "%lld", (long long)left);
		h[nh++] = (struct http_header){ "Connect-Timeout-Ms", arena_strdup(k->a, tmo) };
		if (h[nh - 1].value == NULL)
			h[nh - 1].value = "1";
	}
	for (i = 0; i < call->nheaders; i++)
		h[nh++] = call->headers[i];

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.headers = h;
	rq.nheaders = nh;
	rq.body = body_len > 0 ? body : "";
	rq.body_len = body_len;
	rq.deadline = call->deadline;
	rq.idle_timeout_ms = call->idle_timeout_ms;
	rq.cancel = call->cancel;
	rq.idempotent = !k->streaming && call->idempotent;

	rc = http_do(c, &rq, &k->rs, on_body, k, k->a, e);
	if (rc != 0) {
		if (k->own_rc == 0 && !k->got_end) {
			status_local(k->st, transport_code(rc));
			k->st->http_status = k->rs.status;
		}
		return rc;
	}
	if ((rc = check_head(k, e)) != 0)
		return rc;
	if (k->rs.status != 200) {
		connect_error_body(k->rs.status, k->rs.reason, k->errbody.p ? k->errbody.p : "",
		    k->errbody.len, k->st, k->a);
		return connect_status_err(k->st, e);
	}
	return 0;
}

static void
call_init(struct call *k, const struct connect_call *call, struct connect_status *st,
    struct arena *a, bool streaming)
{
	memset(k, 0, sizeof(*k));
	k->call = call;
	k->st = st;
	k->a = a;
	k->streaming = streaming;
	k->max = call->max_message ? call->max_message : CONNECT_MESSAGE_MAX;
	status_reset(st);
}

int
connect_unary(struct http_client *c, const struct connect_call *call, const void *req,
    size_t req_len, struct buf *resp, struct connect_status *st, struct arena *a, struct err *e)
{
	struct call k;
	int rc;

	call_init(&k, call, st, a, false);
	k.resp = resp;
	k.resp_start = resp->len;
	rc = call_run(c, &k, req, req_len, e);
	http_response_fini(&k.rs);
	buf_fini(&k.errbody);
	return rc;
}

int
connect_stream(struct http_client *c, const struct connect_call *call, const void *req,
    size_t req_len, connect_msg_fn on_msg, void *arg, struct connect_status *st, struct arena *a,
    struct err *e)
{
	struct call k;
	struct buf env = { 0 };
	int rc;

	call_init(&k, call, st, a, true);
	connect_dec_init(&k.dec, k.max);
	k.on_msg = on_msg;
	k.arg = arg;
	if ((rc = connect_envelope_put(&env, 0, req, req_len, e)) != 0) {
		status_local(st, CONNECT_RESOURCE_EXHAUSTED);
		goto out;
	}
	rc = call_run(c, &k, env.p, env.len, e);
	if (rc != 0 && k.own_rc == 0 && k.got_end) {
		/* The end-of-stream message arrived, so the call is over: a transport
		 * failure in the HTTP framing after it changes nothing. */
		err_clear(e);
		rc = 0;
	}
	if (rc != 0 || k.stopped)
		goto out;
	if ((rc = connect_dec_end(&k.dec, e)) != 0) {
		status_local(st, CONNECT_INTERNAL);
		goto out;
	}
	if (!k.got_end) {
		status_local(st, CONNECT_INTERNAL);
		rc = err_set(e, ERR_PROTO,
		    "Connect stream: the response ended without its "
		    "end-of-stream message, so the call's outcome is unknown");
		goto out;
	}
	if (st->code != CONNECT_OK)
		rc = connect_status_err(st, e);
out:
	http_response_fini(&k.rs);
	buf_fini(&k.errbody);
	buf_fini(&env);
	connect_dec_fini(&k.dec);
	return rc;
}
