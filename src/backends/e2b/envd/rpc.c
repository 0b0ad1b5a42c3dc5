/*
 * rpc.c -- how the envd client talks to envd: protobuf messages into a buf, the headers
 * every request carries, failures as one sentence (Connect errors by code, the rest by
 * HTTP status: envd's JSON 401, the gateway's plain-text 5xx, with the detail read by
 * backends/common/rest.h), and the Connect-RPC unary and server-streaming calls over
 * net/connect.h.
 */
#include "backends/e2b/envd/internal.h"

#include <string.h>

#include <pb_encode.h>

#include "backends/common/rest.h"
#include "net/connect.h"
#include "net/url.h"
#include "util/b64.h"

/* Protobuf plumbing ---------------------------------------------------------------------- */

static bool
ostream_buf_cb(pb_ostream_t *s, const pb_byte_t *p, size_t n)
{
	struct buf *b = s->state;

	return buf_append(b, p, n, NULL) == 0;
}

int
envd_pb_to_buf(struct buf *out, const pb_msgdesc_t *fields, const void *msg, struct err *e)
{
	pb_ostream_t os = { .callback = ostream_buf_cb, .state = out, .max_size = SIZE_MAX };

	if (!pb_encode(&os, fields, msg))
		return err_set(e, ERR_TOOBIG, "encoding an envd request failed: %s",
		    PB_GET_ERROR(&os));
	return 0;
}

bool
envd_pb_enc_cstr(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const char *str = *arg;

	return pb_encode_tag_for_field(s, f) &&
	    pb_encode_string(s, (const pb_byte_t *)str, strlen(str));
}

int
envd_copy_bounded(char *dst, size_t cap, const char *src, const char *what, struct err *e)
{
	size_t n = strlen(src);

	if (n >= cap)
		return err_set(e, ERR_INVAL, "%s is %zu bytes long; envd accepts at most %zu", what,
		    n, cap - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

/* Request plumbing ------------------------------------------------------------------------- */

void
envd_hdr_add(struct hdrs *h, const char *name, const char *value)
{
	if (h->n < HDRS_MAX && name != NULL && value != NULL)
		h->h[h->n++] = (struct http_header){ name, value };
}

void
envd_common_headers(const struct envd_target *t, struct hdrs *h, struct arena *a)
{
	if (t->user != NULL && *t->user) {
		char *cred = arena_printf(a, "%s:", t->user);
		char *b64 = cred ? arena_alloc(a, b64_encoded_len(strlen(cred)) + 1) : NULL;

		if (b64 != NULL) {
			b64_encode((const unsigned char *)cred, strlen(cred), b64);
			envd_hdr_add(h, "Authorization", arena_printf(a, "Basic %s", b64));
		}
	}
	if (t->access_token != NULL && *t->access_token)
		envd_hdr_add(h, "X-Access-Token", t->access_token);
	/* The Go runtime client and the JS SDK send these on every envd request; the
	 * gateway's header mode routes on them (BRIEF §2.2, §4). */
	if (t->sandbox_id != NULL)
		envd_hdr_add(h, "e2b-sandbox-id", t->sandbox_id);
	envd_hdr_add(h, "e2b-sandbox-port",
	    arena_printf(a, "%d", t->port > 0 ? t->port : ENVD_PORT_DEFAULT));
	for (size_t i = 0; i < t->nextra; i++)
		envd_hdr_add(h, t->extra[i].name, t->extra[i].value);
}

int64_t
envd_unary_deadline(const struct envd_target *t, const struct call *c)
{
	int64_t dl = call_deadline(c);

	if (t->request_timeout_ms > 0)
		dl = deadline_min(dl, deadline_in_ms(t->request_timeout_ms));
	return dl;
}

const char *
envd_sbx(const struct envd_target *t)
{
	return t->sandbox_id ? t->sandbox_id : "(default)";
}

char *
envd_url(const struct envd_target *t, const char *path, struct arena *a, struct err *e)
{
	char *out = NULL;

	if (url_join(t->base_url, path, "https", &out, a, e) != 0)
		return NULL;
	return out;
}

/* Sentences for failures that are not Connect errors: envd's JSON 401, the gateway's
 * plain-text 5xx, a 404 from an envd without the route, a full disk (BRIEF §6, §9,
 * §11.5). These are envd's own; the detail (msg) is read by the core's rest_detail(). */
static int
status_error(const struct envd_target *t, const char *what, int status, const char *msg,
    struct err *e)
{
	err_clear(e);
	switch (status) {
	case 401:
		return err_set(e, ERR_BACKEND,
		    "envd of sandbox %s refused %s (401: %s): the access token is missing or "
		    "wrong; it is the sandbox's envdAccessToken, or X_ACCESS_TOKEN / "
		    "--access-token in runtime-direct mode",
		    envd_sbx(t), what, msg);
	case 404:
		return err_set(e, ERR_UNSUPPORTED,
		    "envd of sandbox %s does not serve %s (404: %s): it may be too old for it",
		    envd_sbx(t), what, msg);
	case 502:
	case 503:
	case 504:
		return err_set(e, ERR_BACKEND,
		    "sandbox %s is not reachable (%d from the gateway: %s): it may be paused, "
		    "killed or expired; check it with sandbox_info and resume it with "
		    "sandbox_resume",
		    envd_sbx(t), status, msg);
	case 507:
		return err_set(e, ERR_BACKEND,
		    "%s in sandbox %s failed: the sandbox disk is full "
		    "(507: %s)",
		    what, envd_sbx(t), msg);
	default:
		return err_set(e, status == 400 ? ERR_INVAL : ERR_BACKEND,
		    "%s in sandbox %s failed with HTTP %d: %s", what, envd_sbx(t), status, msg);
	}
}

int
envd_http_error(const struct envd_target *t, const char *what, const struct http_response *rs,
    const char *body, size_t len, struct arena *a, struct err *e)
{
	return status_error(t, what, rs->status, rest_detail(rs, body, len, a), e);
}

/* Rewrites a failed Connect call's error as one sentence about what we were doing. */
static int
rpc_error(const struct envd_target *t, const char *what, int rc, const struct connect_status *st,
    struct err *e)
{
	const char *msg = st->message && *st->message ? st->message : "no message";

	if (rc == ERR_CANCELLED)
		return rc;
	if (!st->remote || st->code == CONNECT_OK) {
		/* Transport failure: net/http's sentence names the host. */
		err_prefix(e, "%s in sandbox %s: ", what, envd_sbx(t));
		return rc;
	}
	if (st->from_http)
		return status_error(t, what, st->http_status, msg, e);
	err_clear(e);
	if (st->code == CONNECT_DEADLINE_EXCEEDED)
		return err_set(e, ERR_TIMEOUT, "%s in sandbox %s ran into its deadline (%s)", what,
		    envd_sbx(t), msg);
	return err_set(e, connect_code_err(st->code), "%s in sandbox %s failed: %s (%s)", what,
	    envd_sbx(t), msg, connect_code_name(st->code));
}

static void
rpc_call_init(const struct envd_target *t, struct connect_call *cc, const char *rpc,
    const struct hdrs *h)
{
	memset(cc, 0, sizeof(*cc));
	cc->base_url = t->base_url;
	cc->procedure = rpc;
	cc->headers = h->h;
	cc->nheaders = h->n;
	cc->max_message = ENVD_MSG_MAX;
}

int
envd_rpc_unary(const struct envd_target *t, const char *rpc, const char *what,
    const struct buf *req, bool idempotent, struct buf *resp, struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct connect_call cc;
	struct connect_status st = { 0 };
	int rc;

	envd_common_headers(t, &h, c->a);
	rpc_call_init(t, &cc, rpc, &h);
	cc.deadline = envd_unary_deadline(t, c);
	cc.cancel = c->cancel;
	cc.idempotent = idempotent;
	rc = connect_unary(t->http, &cc, req->p ? req->p : "", req->len, resp, &st, c->a, e);
	return rc != 0 ? rpc_error(t, what, rc, &st, e) : 0;
}

/* Server streaming: each message is decoded into an event for fn. */
struct strm {
	const struct envd_target *t;
	struct buf scratch; /* decoded output bytes */
	bool got_end;       /* an EndEvent was seen */
	int fn_rc;          /* fn's own error, if it returned one */
	envd_event_fn fn;
	void *arg;
};

static int
strm_msg(void *arg, const char *p, size_t n, struct err *e)
{
	struct strm *s = arg;
	struct envd_event ev = { .type = ENVD_EV_NONE };
	int rc = envd_pb_event(p, n, &ev, &s->scratch, e);

	if (rc != 0)
		return rc;
	if (ev.type == ENVD_EV_NONE)
		return 0;
	if (ev.type == ENVD_EV_END)
		s->got_end = true;
	rc = s->fn(s->arg, &ev, e);
	if (rc == ENVD_STOP)
		return CONNECT_STOP;
	s->fn_rc = rc;
	return rc;
}

int
envd_rpc_stream(const struct envd_target *t, const char *rpc, const char *what,
    const struct buf *req, int64_t deadline, envd_event_fn fn, void *arg, struct call *c,
    struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct connect_call cc;
	struct connect_status st = { 0 };
	struct strm s = { .t = t, .fn = fn, .arg = arg };
	int rc;

	/* Ask for keepalive events so a quiet command keeps the stream visibly alive. */
	envd_hdr_add(&h, "Keepalive-Ping-Interval", arena_printf(c->a, "%d", ENVD_KEEPALIVE_S));
	envd_common_headers(t, &h, c->a);
	rpc_call_init(t, &cc, rpc, &h);
	/* connect_stream sends the deadline as Connect-Timeout-Ms: on Start, envd kills
	 * the process when it passes (BRIEF §11.4), which is what a timeout wants. */
	cc.deadline = deadline;
	cc.idle_timeout_ms = t->idle_timeout_ms > 0 ? t->idle_timeout_ms : ENVD_STREAM_IDLE_MS;
	cc.cancel = c->cancel;
	buf_init(&s.scratch, ENVD_MSG_MAX);
	rc = connect_stream(t->http, &cc, req->p ? req->p : "", req->len, strm_msg, &s, &st, c->a,
	    e);
	buf_fini(&s.scratch);
	if (rc && s.got_end && st.code != CONNECT_OK && st.http_status == 200 &&
	    rc != ERR_CANCELLED) {
		/* Everything we need arrived; a broken tail does not matter. */
		err_clear(e);
		return 0;
	}
	if (rc && s.fn_rc)
		return rc; /* fn's own error, already phrased */
	return rc != 0 ? rpc_error(t, what, rc, &st, e) : 0;
}

int
envd_rpc_simple(const struct envd_target *t, const char *rpc, const char *what, struct buf *req,
    bool idempotent, struct call *c, struct err *e)
{
	struct buf resp;
	int rc;

	buf_init(&resp, 0);
	rc = envd_rpc_unary(t, rpc, what, req, idempotent, &resp, c, e);
	buf_fini(&resp);
	buf_fini(req);
	return rc;
}
