/*
 * envd.c -- envd client: Connect-RPC (binary protobuf, nanopb) for the process and
 * filesystem services, HTTP for /files and /metrics, and the background-process table.
 *
 * Longer than 1,000 lines because it holds three tightly coupled layers that share the
 * same request plumbing and error mapping: the protobuf wire helpers, the RPC and HTTP
 * calls, and the background readers built on the streaming calls.
 *
 * No <stdio.h> here: the upstream field names StartRequest.stdin and DataEvent.stdout /
 * .stderr collide with musl's `#define stdout (stdout)`. Formatting goes through the
 * arena and buf printf helpers instead.
 */
#include "backends/envd.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "filesystem.pb.h"
#include "json/json.h"
#include "net/connect.h"
#include "net/url.h"
#include "process.pb.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#define HDRS_MAX 48
#define ERR_BODY_MAX 4096
#define ARG_MAX_BYTES (1024 * 1024)	/* one decoded cmd/arg string from List */
#define INPUT_CHUNK (256 * 1024)	/* SendInput message size */
#define BG_MAX 64			/* background processes watched at once */
#define BG_REATTACH_TRIES 5

/* Protobuf wire helpers ------------------------------------------------------------------- */

static bool
ostream_buf_cb(pb_ostream_t *s, const pb_byte_t *p, size_t n)
{
	struct buf *b = s->state;

	return buf_append(b, p, n, NULL) == 0;
}

/* Encodes msg into out (appending); fails only on a full buf or a callback error. */
static int
pb_to_buf(struct buf *out, const pb_msgdesc_t *fields, const void *msg, struct err *e)
{
	pb_ostream_t os = { .callback = ostream_buf_cb, .state = out, .max_size = SIZE_MAX };

	if (!pb_encode(&os, fields, msg))
		return err_set(e, ERR_TOOBIG, "encoding an envd request failed: %s",
		    PB_GET_ERROR(&os));
	return 0;
}

static bool
enc_cstr(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const char *str = *arg;

	return pb_encode_tag_for_field(s, f) &&
	    pb_encode_string(s, (const pb_byte_t *)str, strlen(str));
}

struct enc_args {
	const char *const *v;
	size_t n;
};

static bool
enc_strs(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const struct enc_args *ea = *arg;

	for (size_t i = 0; i < ea->n; i++) {
		if (!pb_encode_tag_for_field(s, f) ||
		    !pb_encode_string(s, (const pb_byte_t *)ea->v[i], strlen(ea->v[i])))
			return false;
	}
	return true;
}

struct enc_env {
	const struct kv *kv;
	size_t n;
};

static bool
enc_envs(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const struct enc_env *ee = *arg;

	for (size_t i = 0; i < ee->n; i++) {
		process_ProcessConfig_EnvsEntry ent = process_ProcessConfig_EnvsEntry_init_zero;

		ent.key.funcs.encode = enc_cstr;
		ent.key.arg = (void *)ee->kv[i].key;
		ent.value.funcs.encode = enc_cstr;
		ent.value.arg = (void *)(ee->kv[i].value ? ee->kv[i].value : "");
		if (!pb_encode_tag_for_field(s, f) ||
		    !pb_encode_submessage(s, process_ProcessConfig_EnvsEntry_fields, &ent))
			return false;
	}
	return true;
}

static int
copy_bounded(char *dst, size_t cap, const char *src, const char *what, struct err *e)
{
	size_t n = strlen(src);

	if (n >= cap)
		return err_set(e, ERR_INVAL, "%s is %zu bytes long; envd accepts at most %zu",
		    what, n, cap - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

int
envd_pb_start_request(struct buf *out, const struct envd_start_req *rq, struct err *e)
{
	process_StartRequest req = process_StartRequest_init_zero;
	const char *bash_args[3] = { "-l", "-c", rq->command ? rq->command : "" };
	struct enc_args args = { bash_args, 3 };
	struct enc_env env = { rq->env, rq->nenv };

	req.has_process = true;
	if (rq->argv && rq->argc > 0) {
		req.process.cmd.arg = (void *)rq->argv[0];
		args.v = rq->argv + 1;
		args.n = rq->argc - 1;
	} else {
		req.process.cmd.arg = (void *)"/bin/bash";
	}
	req.process.cmd.funcs.encode = enc_cstr;
	req.process.args.funcs.encode = enc_strs;
	req.process.args.arg = &args;
	if (rq->nenv > 0) {
		req.process.envs.funcs.encode = enc_envs;
		req.process.envs.arg = &env;
	}
	if (rq->cwd && *rq->cwd) {
		req.process.cwd.funcs.encode = enc_cstr;
		req.process.cwd.arg = (void *)rq->cwd;
	}
	if (rq->tag) {
		if (copy_bounded(req.tag, sizeof req.tag, rq->tag, "the process tag", e))
			return e->code;
		req.has_tag = true;
	}
	/* Present even when false: absent means "keep stdin open" (BRIEF §11.1). */
	req.has_stdin = true;
	req.stdin = rq->stdin_open;
	return pb_to_buf(out, process_StartRequest_fields, &req, e);
}

static void
selector(process_ProcessSelector *sel, uint32_t pid)
{
	sel->which_selector = process_ProcessSelector_pid_tag;
	sel->selector.pid = pid;
}

int
envd_pb_signal_request(struct buf *out, uint32_t pid, int signal_enum, struct err *e)
{
	process_SendSignalRequest req = process_SendSignalRequest_init_zero;

	req.has_process = true;
	selector(&req.process, pid);
	req.signal = (process_Signal)signal_enum;
	return pb_to_buf(out, process_SendSignalRequest_fields, &req, e);
}

int
envd_pb_selector_request(struct buf *out, uint32_t pid, struct err *e)
{
	/* CloseStdinRequest and ConnectRequest are both {1: ProcessSelector}. */
	process_ConnectRequest req = process_ConnectRequest_init_zero;

	req.has_process = true;
	selector(&req.process, pid);
	return pb_to_buf(out, process_ConnectRequest_fields, &req, e);
}

struct enc_bytes {
	const void *p;
	size_t n;
};

static bool
enc_bytes_cb(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const struct enc_bytes *eb = *arg;

	return pb_encode_tag_for_field(s, f) && pb_encode_string(s, eb->p, eb->n);
}

/* ProcessInput's members are reached by position (see the top of this file). */
_Static_assert(sizeof(process_ProcessInput) == 2 * sizeof(pb_callback_t),
    "ProcessInput is {stdin, pty} callbacks");

int
envd_pb_input_request(struct buf *out, uint32_t pid, const void *data, size_t len,
    struct err *e)
{
	process_SendInputRequest req = process_SendInputRequest_init_zero;
	struct enc_bytes eb = { data, len };
	pb_callback_t *in_stdin = &((pb_callback_t *)&req.input)[0];

	req.has_process = true;
	selector(&req.process, pid);
	req.has_input = true;
	in_stdin->funcs.encode = enc_bytes_cb;
	in_stdin->arg = &eb;
	return pb_to_buf(out, process_SendInputRequest_fields, &req, e);
}

int
envd_pb_path_request(struct buf *out, const char *path, struct err *e)
{
	/* Stat, MakeDir and Remove requests are all {1: path}. */
	filesystem_StatRequest *req = xcalloc(1, sizeof *req);
	int rc = copy_bounded(req->path, sizeof req->path, path, "the path", e);

	if (rc == 0)
		rc = pb_to_buf(out, filesystem_StatRequest_fields, req, e);
	free(req);
	return rc;
}

int
envd_pb_move_request(struct buf *out, const char *src, const char *dst, struct err *e)
{
	filesystem_MoveRequest *req = xcalloc(1, sizeof *req);
	int rc = copy_bounded(req->source, sizeof req->source, src, "the source path", e);

	if (rc == 0)
		rc = copy_bounded(req->destination, sizeof req->destination, dst,
		    "the destination path", e);
	if (rc == 0)
		rc = pb_to_buf(out, filesystem_MoveRequest_fields, req, e);
	free(req);
	return rc;
}

int
envd_pb_list_dir_request(struct buf *out, const char *path, uint32_t depth, struct err *e)
{
	filesystem_ListDirRequest *req = xcalloc(1, sizeof *req);
	int rc = copy_bounded(req->path, sizeof req->path, path, "the path", e);

	req->depth = depth;
	if (rc == 0)
		rc = pb_to_buf(out, filesystem_ListDirRequest_fields, req, e);
	free(req);
	return rc;
}

/* Decoding ---------------------------------------------------------------------------------- */

struct dec_data {
	struct buf *scratch;
	struct envd_event *ev;
	enum envd_ev_type type;
};

static bool
dec_output(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_data *dd = *arg;
	size_t n = s->bytes_left;

	buf_reset(dd->scratch);
	if (buf_reserve(dd->scratch, n, NULL))
		PB_RETURN_ERROR(s, "output chunk too large");
	if (!pb_read(s, (pb_byte_t *)dd->scratch->p, n))
		return false;
	dd->scratch->len = n;
	dd->scratch->p[n] = '\0';
	dd->ev->type = dd->type;
	dd->ev->data = dd->scratch->p;
	dd->ev->len = n;
	return true;
}

/* DataEvent's members are reached by position (see the top of this file). */
_Static_assert(sizeof(process_ProcessEvent_DataEvent) == 3 * sizeof(pb_callback_t),
    "DataEvent is {stdout, stderr, pty} callbacks");

int
envd_pb_event(const void *p, size_t n, struct envd_event *ev, struct buf *scratch,
    struct err *e)
{
	process_StartResponse msg = process_StartResponse_init_zero;
	pb_callback_t *out = (pb_callback_t *)&msg.event.data;
	struct dec_data dd[3] = {
		{ scratch, ev, ENVD_EV_STDOUT },
		{ scratch, ev, ENVD_EV_STDERR },
		{ scratch, ev, ENVD_EV_PTY },
	};
	pb_istream_t is = pb_istream_from_buffer(p, n);

	memset(ev, 0, sizeof *ev);
	for (int i = 0; i < 3; i++) {
		out[i].funcs.decode = dec_output;
		out[i].arg = &dd[i];
	}
	if (!pb_decode(&is, process_StartResponse_fields, &msg))
		return err_set(e, ERR_PROTO, "envd sent a process event that does not decode: %s",
		    PB_GET_ERROR(&is));
	if (!msg.has_event)
		return 0;
	if (msg.event.has_end) {
		ev->type = ENVD_EV_END;
		ev->exit_code = msg.event.end.exit_code;
		ev->exited = msg.event.end.exited;
		memcpy(ev->status, msg.event.end.status, sizeof ev->status);
		if (msg.event.end.has_error)
			memcpy(ev->error, msg.event.end.error, sizeof ev->error);
	} else if (msg.event.has_start) {
		ev->type = ENVD_EV_START;
		ev->pid = msg.event.start.pid;
	} else if (msg.event.has_keepalive) {
		ev->type = ENVD_EV_KEEPALIVE;
	} else if (msg.event.has_data && ev->type == ENVD_EV_NONE) {
		ev->type = ENVD_EV_STDOUT;	/* an empty output chunk */
		ev->data = "";
	}
	return 0;
}

static void
entry_convert(const filesystem_EntryInfo *in, struct file_entry *out, struct arena *a)
{
	memset(out, 0, sizeof *out);
	out->name = arena_strdup(a, in->name);
	out->path = arena_strdup(a, in->path);
	switch (in->type) {
	case filesystem_FileType_FILE_TYPE_FILE:
		out->type = FILE_T_FILE;
		break;
	case filesystem_FileType_FILE_TYPE_DIRECTORY:
		out->type = FILE_T_DIR;
		break;
	case filesystem_FileType_FILE_TYPE_SYMLINK:
		out->type = FILE_T_SYMLINK;
		break;
	default:
		out->type = FILE_T_OTHER;
		break;
	}
	out->size = in->size;
	out->mode = in->mode & 07777;
	if (in->has_modified_time)
		out->modified_at = in->modified_time.seconds * 1000 +
		    in->modified_time.nanos / 1000000;
	if (in->has_symlink_target)
		out->link_target = arena_strdup(a, in->symlink_target);
}

int
envd_pb_entry_response(const void *p, size_t n, struct file_entry *out, struct arena *a,
    struct err *e)
{
	/* Stat/MakeDir/Move responses are all {1: EntryInfo}. */
	filesystem_StatResponse *msg = xcalloc(1, sizeof *msg);
	pb_istream_t is = pb_istream_from_buffer(p, n);
	int rc = 0;

	if (!pb_decode(&is, filesystem_StatResponse_fields, msg))
		rc = err_set(e, ERR_PROTO, "envd sent a file entry that does not decode: %s",
		    PB_GET_ERROR(&is));
	else if (!msg->has_entry)
		rc = err_set(e, ERR_PROTO, "envd sent a response without the file entry");
	else
		entry_convert(&msg->entry, out, a);
	free(msg);
	if (rc == 0 && (!out->name || !out->path))
		rc = err_set(e, ERR_TOOBIG, "the request arena is full");
	return rc;
}

struct dec_list_dir {
	struct file_list *out;
	size_t cap, max;
	struct arena *a;
	filesystem_EntryInfo *tmp;
};

static bool
dec_entry(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_list_dir *d = *arg;
	struct file_list *fl = d->out;

	memset(d->tmp, 0, sizeof *d->tmp);
	if (!pb_decode(s, filesystem_EntryInfo_fields, d->tmp))
		return false;
	if (fl->n >= d->max) {
		fl->truncated = true;
		return true;
	}
	if (fl->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct file_entry *ni = arena_alloc(d->a, ncap * sizeof *ni);

		if (!ni)
			PB_RETURN_ERROR(s, "request arena full");
		if (fl->n)
			memcpy(ni, fl->items, fl->n * sizeof *ni);
		fl->items = ni;
		d->cap = ncap;
	}
	entry_convert(d->tmp, &fl->items[fl->n], d->a);
	if (!fl->items[fl->n].path)
		PB_RETURN_ERROR(s, "request arena full");
	fl->n++;
	return true;
}

int
envd_pb_list_dir_response(const void *p, size_t n, size_t max, struct file_list *out,
    struct arena *a, struct err *e)
{
	filesystem_ListDirResponse msg = filesystem_ListDirResponse_init_zero;
	struct dec_list_dir d = { out, 0, max, a, xcalloc(1, sizeof(filesystem_EntryInfo)) };
	pb_istream_t is = pb_istream_from_buffer(p, n);
	int rc = 0;

	memset(out, 0, sizeof *out);
	msg.entries.funcs.decode = dec_entry;
	msg.entries.arg = &d;
	if (!pb_decode(&is, filesystem_ListDirResponse_fields, &msg))
		rc = err_set(e, ERR_PROTO, "envd sent a directory listing that does not decode: %s",
		    PB_GET_ERROR(&is));
	free(d.tmp);
	return rc;
}

struct dec_strs {
	struct arena *a;
	const char *v[3];	/* the first three args */
	size_t n;		/* args seen */
	char *joined;		/* all args joined with spaces, capped */
};

static char *
dec_string(pb_istream_t *s, struct arena *a)
{
	size_t n = s->bytes_left;
	char *p;

	if (n > ARG_MAX_BYTES)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (!p || !pb_read(s, (pb_byte_t *)p, n))
		return NULL;
	p[n] = '\0';
	return p;
}

static bool
dec_cmd(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_strs *d = *arg;
	char *str = dec_string(s, d->a);

	if (!str)
		PB_RETURN_ERROR(s, "command string too long");
	d->joined = str;
	return true;
}

static bool
dec_arg(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_strs *d = *arg;
	char *str = dec_string(s, d->a);

	if (!str)
		PB_RETURN_ERROR(s, "argument string too long");
	if (d->n < 3)
		d->v[d->n] = str;
	d->n++;
	if (d->joined && strlen(d->joined) < 4096)
		d->joined = arena_printf(d->a, "%s %s", d->joined, str);
	return true;
}

struct dec_procs {
	struct envd_proc *items;
	size_t n, cap;
	struct arena *a;
};

static bool
dec_proc(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_procs *d = *arg;
	process_ProcessInfo info = process_ProcessInfo_init_zero;
	struct dec_strs strs = { .a = d->a };
	struct envd_proc *pr;

	info.config.cmd.funcs.decode = dec_cmd;
	info.config.cmd.arg = &strs;
	info.config.args.funcs.decode = dec_arg;
	info.config.args.arg = &strs;
	if (!pb_decode(s, process_ProcessInfo_fields, &info))
		return false;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 16;
		struct envd_proc *ni = arena_alloc(d->a, ncap * sizeof *ni);

		if (!ni)
			PB_RETURN_ERROR(s, "request arena full");
		if (d->n)
			memcpy(ni, d->items, d->n * sizeof *ni);
		d->items = ni;
		d->cap = ncap;
	}
	pr = &d->items[d->n++];
	pr->pid = info.pid;
	pr->tag = info.has_tag ? arena_strdup(d->a, info.tag) : NULL;
	/* Every client sends /bin/bash -l -c <command>: show just the command. */
	if (strs.n == 3 && strcmp(strs.v[0], "-l") == 0 && strcmp(strs.v[1], "-c") == 0)
		pr->command = strs.v[2];
	else
		pr->command = strs.joined ? strs.joined : "";
	return true;
}

int
envd_pb_list_response(const void *p, size_t n, struct envd_proc **out, size_t *count,
    struct arena *a, struct err *e)
{
	process_ListResponse msg = process_ListResponse_init_zero;
	struct dec_procs d = { .a = a };
	pb_istream_t is = pb_istream_from_buffer(p, n);

	msg.processes.funcs.decode = dec_proc;
	msg.processes.arg = &d;
	if (!pb_decode(&is, process_ListResponse_fields, &msg))
		return err_set(e, ERR_PROTO, "envd sent a process list that does not decode: %s",
		    PB_GET_ERROR(&is));
	*out = d.items;
	*count = d.n;
	return 0;
}

/* Request plumbing ------------------------------------------------------------------------- */

struct hdrs {
	struct http_header h[HDRS_MAX];
	size_t n;
};

static void
hdr_add(struct hdrs *h, const char *name, const char *value)
{
	if (h->n < HDRS_MAX && name && value)
		h->h[h->n++] = (struct http_header){ name, value };
}

static void
common_headers(const struct envd_target *t, struct hdrs *h, struct arena *a)
{
	if (t->user && *t->user) {
		char *cred = arena_printf(a, "%s:", t->user);
		char *b64 = cred ? arena_alloc(a, b64_encoded_len(strlen(cred)) + 1) : NULL;

		if (b64) {
			b64_encode((const unsigned char *)cred, strlen(cred), b64);
			hdr_add(h, "Authorization", arena_printf(a, "Basic %s", b64));
		}
	}
	if (t->access_token && *t->access_token)
		hdr_add(h, "X-Access-Token", t->access_token);
	/* The Go runtime client and the JS SDK send these on every envd request; the
	 * gateway's header mode routes on them (BRIEF §2.2, §4). */
	if (t->sandbox_id)
		hdr_add(h, "e2b-sandbox-id", t->sandbox_id);
	hdr_add(h, "e2b-sandbox-port",
	    arena_printf(a, "%d", t->port > 0 ? t->port : ENVD_PORT_DEFAULT));
	for (size_t i = 0; i < t->nextra; i++)
		hdr_add(h, t->extra[i].name, t->extra[i].value);
}

static int64_t
unary_deadline(const struct envd_target *t, const struct call *c)
{
	int64_t dl = call_deadline(c);

	if (t->request_timeout_ms > 0)
		dl = deadline_min(dl, deadline_in_ms(t->request_timeout_ms));
	return dl;
}

static const char *
sbx(const struct envd_target *t)
{
	return t->sandbox_id ? t->sandbox_id : "(default)";
}

static char *
envd_url(const struct envd_target *t, const char *path, struct arena *a, struct err *e)
{
	char *out = NULL;

	if (url_join(t->base_url, path, "https", &out, a, e))
		return NULL;
	return out;
}

/* Sentences for failures that are not Connect errors: envd's JSON 401, the gateway's
 * plain-text 5xx, a 404 from an envd without the route (BRIEF §6, §9, §11.5). */
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
		    "--access-token in runtime-direct mode", sbx(t), what, msg);
	case 404:
		return err_set(e, ERR_UNSUPPORTED,
		    "envd of sandbox %s does not serve %s (404: %s): it may be too old for it",
		    sbx(t), what, msg);
	case 502:
	case 503:
	case 504:
		return err_set(e, ERR_BACKEND,
		    "sandbox %s is not reachable (%d from the gateway: %s): it may be paused, "
		    "killed or expired; check it with sandbox_info and resume it with "
		    "sandbox_resume", sbx(t), status, msg);
	case 507:
		return err_set(e, ERR_BACKEND, "%s in sandbox %s failed: the sandbox disk is full "
		    "(507: %s)", what, sbx(t), msg);
	default:
		return err_set(e, status == 400 ? ERR_INVAL : ERR_BACKEND,
		    "%s in sandbox %s failed with HTTP %d: %s", what, sbx(t), status, msg);
	}
}

/* Maps a non-200 /files or /metrics response (envd's {"code":N,"message"} JSON or a
 * gateway's text) to one sentence. */
static int
http_error(const struct envd_target *t, const char *what, int status, const char *ctype,
    const char *body, size_t len, struct arena *a, struct err *e)
{
	const char *msg = NULL;

	if (ctype && str_has_prefix(ctype, "application/json") && len > 0) {
		struct err je = { 0 };
		const struct json *j = json_parse(body, len, a, &je);

		msg = j ? json_get_str(j, "message") : NULL;
	}
	if (!msg)
		msg = http_body_excerpt(body, len, a);
	return status_error(t, what, status, *msg ? msg : "no message", e);
}

/* Rewrites a failed Connect call's error as one sentence about what we were doing. */
static int
rpc_error(const struct envd_target *t, const char *what, int rc,
    const struct connect_status *st, struct err *e)
{
	const char *msg = st->message && *st->message ? st->message : "no message";

	if (rc == ERR_CANCELLED)
		return rc;
	if (!st->remote || st->code == CONNECT_OK) {
		/* Transport failure: net/http's sentence names the host. */
		err_prefix(e, "%s in sandbox %s: ", what, sbx(t));
		return rc;
	}
	if (st->from_http)
		return status_error(t, what, st->http_status, msg, e);
	err_clear(e);
	if (st->code == CONNECT_DEADLINE_EXCEEDED)
		return err_set(e, ERR_TIMEOUT, "%s in sandbox %s ran into its deadline (%s)",
		    what, sbx(t), msg);
	return err_set(e, connect_code_err(st->code), "%s in sandbox %s failed: %s (%s)", what,
	    sbx(t), msg, connect_code_name(st->code));
}

static void
rpc_call_init(const struct envd_target *t, struct connect_call *cc, const char *rpc,
    const struct hdrs *h)
{
	memset(cc, 0, sizeof *cc);
	cc->base_url = t->base_url;
	cc->procedure = rpc;
	cc->headers = h->h;
	cc->nheaders = h->n;
	cc->max_message = ENVD_MSG_MAX;
}

/* Unary call; the response message goes to *resp (caller buf_fini). */
static int
rpc_unary(const struct envd_target *t, const char *rpc, const char *what,
    const struct buf *req, bool idempotent, struct buf *resp, struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct connect_call cc;
	struct connect_status st = { 0 };
	int rc;

	common_headers(t, &h, c->a);
	rpc_call_init(t, &cc, rpc, &h);
	cc.deadline = unary_deadline(t, c);
	cc.cancel = c->cancel;
	cc.idempotent = idempotent;
	rc = connect_unary(t->http, &cc, req->p ? req->p : "", req->len, resp, &st, c->a, e);
	return rc ? rpc_error(t, what, rc, &st, e) : 0;
}

/* Server streaming: each message is decoded into an event for fn. */
struct strm {
	const struct envd_target *t;
	struct buf scratch;		/* decoded output bytes */
	bool got_end;			/* an EndEvent was seen */
	int fn_rc;			/* fn's own error, if it returned one */
	envd_event_fn fn;
	void *arg;
};

static int
strm_msg(void *arg, const char *p, size_t n, struct err *e)
{
	struct strm *s = arg;
	struct envd_event ev = { .type = ENVD_EV_NONE };
	int rc = envd_pb_event(p, n, &ev, &s->scratch, e);

	if (rc)
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

static int
rpc_stream(const struct envd_target *t, const char *rpc, const char *what,
    const struct buf *req, int64_t deadline, envd_event_fn fn, void *arg, struct call *c,
    struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct connect_call cc;
	struct connect_status st = { 0 };
	struct strm s = { .t = t, .fn = fn, .arg = arg };
	int rc;

	/* Ask for keepalive events so a quiet command keeps the stream visibly alive. */
	hdr_add(&h, "Keepalive-Ping-Interval", arena_printf(c->a, "%d", ENVD_KEEPALIVE_S));
	common_headers(t, &h, c->a);
	rpc_call_init(t, &cc, rpc, &h);
	/* connect_stream sends the deadline as Connect-Timeout-Ms: on Start, envd kills
	 * the process when it passes (BRIEF §11.4), which is what a timeout wants. */
	cc.deadline = deadline;
	cc.idle_timeout_ms = t->idle_timeout_ms > 0 ? t->idle_timeout_ms : ENVD_STREAM_IDLE_MS;
	cc.cancel = c->cancel;
	buf_init(&s.scratch, ENVD_MSG_MAX);
	rc = connect_stream(t->http, &cc, req->p ? req->p : "", req->len, strm_msg, &s, &st,
	    c->a, e);
	buf_fini(&s.scratch);
	if (rc && s.got_end && st.code != CONNECT_OK && st.http_status == 200 &&
	    rc != ERR_CANCELLED) {
		/* Everything we need arrived; a broken tail does not matter. */
		err_clear(e);
		return 0;
	}
	if (rc && s.fn_rc)
		return rc;	/* fn's own error, already phrased */
	return rc ? rpc_error(t, what, rc, &st, e) : 0;
}


/* Process service ---------------------------------------------------------------------------- */

int
envd_start(const struct envd_target *t, const struct envd_start_req *rq, envd_event_fn fn,
    void *arg, struct call *c, struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	rc = envd_pb_start_request(&req, rq, e);
	if (rc == 0)
		rc = rpc_stream(t, "/process.Process/Start", "starting a command", &req,
		    rq->timeout_ms > 0 ? deadline_min(call_deadline(c),
		    deadline_in_ms(rq->timeout_ms)) : call_deadline(c), fn, arg, c, e);
	buf_fini(&req);
	return rc;
}

int
envd_connect(const struct envd_target *t, uint32_t pid, envd_event_fn fn, void *arg,
    struct call *c, struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	rc = envd_pb_selector_request(&req, pid, e);
	if (rc == 0)
		rc = rpc_stream(t, "/process.Process/Connect",
		    arena_printf(c->a, "attaching to process %u", pid), &req, call_deadline(c), fn,
		    arg, c, e);
	buf_fini(&req);
	return rc;
}

int
envd_list(const struct envd_target *t, struct envd_proc **out, size_t *n, struct call *c,
    struct err *e)
{
	struct buf req, resp;
	int rc;

	buf_init(&req, 0);
	buf_init(&resp, 0);
	rc = rpc_unary(t, "/process.Process/List", "listing processes", &req, true, &resp, c, e);
	if (rc == 0)
		rc = envd_pb_list_response(resp.p ? resp.p : "", resp.len, out, n, c->a, e);
	buf_fini(&resp);
	return rc;
}

static int
simple_unary(const struct envd_target *t, const char *rpc, const char *what, struct buf *req,
    bool idempotent, struct call *c, struct err *e)
{
	struct buf resp;
	int rc;

	buf_init(&resp, 0);
	rc = rpc_unary(t, rpc, what, req, idempotent, &resp, c, e);
	buf_fini(&resp);
	buf_fini(req);
	return rc;
}

int
envd_send_input(const struct envd_target *t, uint32_t pid, const void *data, size_t len,
    struct call *c, struct err *e)
{
	const char *p = data;
	const char *what = arena_printf(c->a, "sending input to process %u", pid);

	do {
		size_t k = len < INPUT_CHUNK ? len : INPUT_CHUNK;
		struct buf req;
		int rc;

		buf_init(&req, 0);
		rc = envd_pb_input_request(&req, pid, p, k, e);
		if (rc == 0)
			rc = simple_unary(t, "/process.Process/SendInput", what, &req, false, c, e);
		else
			buf_fini(&req);
		if (rc)
			return rc;
		p += k;
		len -= k;
	} while (len > 0);
	return 0;
}

int
envd_close_stdin(const struct envd_target *t, uint32_t pid, struct call *c, struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	rc = envd_pb_selector_request(&req, pid, e);
	if (rc) {
		buf_fini(&req);
		return rc;
	}
	rc = simple_unary(t, "/process.Process/CloseStdin",
	    arena_printf(c->a, "closing stdin of process %u", pid), &req, false, c, e);
	if (rc == ERR_UNSUPPORTED) {
		err_clear(e);
		rc = err_set(e, ERR_UNSUPPORTED, "envd of sandbox %s cannot close stdin (CloseStdin "
		    "needs envd 0.5.2 or newer); end the input with the program's own quit "
		    "command or kill the process", sbx(t));
	}
	return rc;
}

int
envd_signal(const struct envd_target *t, uint32_t pid, int signo, struct call *c,
    struct err *e)
{
	struct buf req;
	int rc;

	if (signo != 15 && signo != 9)
		return err_set(e, ERR_UNSUPPORTED, "envd can send only SIGTERM (15) or SIGKILL "
		    "(9), not signal %d", signo);
	buf_init(&req, 0);
	/* The Signal enum values are the signal numbers: 15 and 9 (BRIEF §11.3). */
	rc = envd_pb_signal_request(&req, pid, signo, e);
	if (rc) {
		buf_fini(&req);
		return rc;
	}
	return simple_unary(t, "/process.Process/SendSignal",
	    arena_printf(c->a, "sending signal %d to process %u", signo, pid), &req, false, c, e);
}

/* Filesystem service -------------------------------------------------------------------------- */

static int
entry_call(const struct envd_target *t, const char *rpc, const char *what, struct buf *req,
    bool idempotent, struct file_entry *out, struct call *c, struct err *e)
{
	struct buf resp;
	int rc;

	buf_init(&resp, 0);
	rc = rpc_unary(t, rpc, what, req, idempotent, &resp, c, e);
	if (rc == 0 && out)
		rc = envd_pb_entry_response(resp.p ? resp.p : "", resp.len, out, c->a, e);
	buf_fini(&resp);
	buf_fini(req);
	return rc;
}

int
envd_stat(const struct envd_target *t, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct buf req;

	buf_init(&req, 0);
	if (envd_pb_path_request(&req, path, e)) {
		buf_fini(&req);
		return e->code;
	}
	return entry_call(t, "/filesystem.Filesystem/Stat",
	    arena_printf(c->a, "stat of %s", path), &req, true, out, c, e);
}

int
envd_mkdir(const struct envd_target *t, const char *path, bool *created, struct call *c,
    struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	if (envd_pb_path_request(&req, path, e)) {
		buf_fini(&req);
		return e->code;
	}
	rc = entry_call(t, "/filesystem.Filesystem/MakeDir",
	    arena_printf(c->a, "creating directory %s", path), &req, false, NULL, c, e);
	if (rc == ERR_EXISTS) {
		/* Clients map already_exists to "not created" (BRIEF §10). */
		err_clear(e);
		*created = false;
		return 0;
	}
	*created = rc == 0;
	return rc;
}

int
envd_move(const struct envd_target *t, const char *src, const char *dst, struct call *c,
    struct err *e)
{
	struct buf req;

	buf_init(&req, 0);
	if (envd_pb_move_request(&req, src, dst, e)) {
		buf_fini(&req);
		return e->code;
	}
	return entry_call(t, "/filesystem.Filesystem/Move",
	    arena_printf(c->a, "moving %s to %s", src, dst), &req, false, NULL, c, e);
}

int
envd_list_dir(const struct envd_target *t, const char *path, int depth, size_t max,
    struct file_list *out, struct call *c, struct err *e)
{
	struct buf req, resp;
	int rc;

	buf_init(&req, 0);
	buf_init(&resp, 0);
	memset(out, 0, sizeof *out);
	rc = envd_pb_list_dir_request(&req, path, depth < 1 ? 1 : (uint32_t)depth, e);
	if (rc == 0)
		rc = rpc_unary(t, "/filesystem.Filesystem/ListDir",
		    arena_printf(c->a, "listing %s", path), &req, true, &resp, c, e);
	if (rc == 0)
		rc = envd_pb_list_dir_response(resp.p ? resp.p : "", resp.len,
		    max ? max : ENVD_LIST_MAX, out, c->a, e);
	buf_fini(&req);
	buf_fini(&resp);
	return rc;
}

int
envd_remove(const struct envd_target *t, const char *path, struct call *c, struct err *e)
{
	struct buf req;

	buf_init(&req, 0);
	if (envd_pb_path_request(&req, path, e)) {
		buf_fini(&req);
		return e->code;
	}
	return simple_unary(t, "/filesystem.Filesystem/Remove",
	    arena_printf(c->a, "removing %s", path), &req, false, c, e);
}

/* HTTP endpoints ------------------------------------------------------------------------------- */

static char *
files_url(const struct envd_target *t, const char *path, struct arena *a, struct err *e)
{
	struct buf q;
	char *url = NULL;

	buf_init(&q, 0);
	if (url_query_add(&q, "path", path, e) ||
	    (t->user && *t->user && url_query_add(&q, "username", t->user, e)))
		goto out;
	url = envd_url(t, arena_printf(a, "/files?%s", q.p), a, e);
out:
	buf_fini(&q);
	return url;
}

struct rd {
	struct http_response *rs;
	struct buf *out;
	uint64_t offset;		/* where the caller wants to start */
	uint64_t skip;			/* bytes to drop first (server ignored our Range) */
	size_t left;			/* bytes still wanted; SIZE_MAX: all */
	bool first;
	struct buf errbody;
};

static int
rd_on_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct rd *r = arg;

	if (r->first) {
		/* 206: the server honoured Range. 200: it sent the whole file, so the bytes
		 * before the offset are dropped here. */
		r->first = false;
		r->skip = r->rs->status == 200 ? r->offset : 0;
	}
	if (r->rs->status != 200 && r->rs->status != 206) {
		size_t room = ERR_BODY_MAX - r->errbody.len;

		return buf_append(&r->errbody, p, n < room ? n : room, e);
	}
	if (r->skip) {
		size_t k = r->skip < n ? (size_t)r->skip : n;

		r->skip -= k;
		p += k;
		n -= k;
	}
	if (n > r->left)
		n = r->left;
	if (n && buf_append(r->out, p, n, e))
		return e->code;
	if (r->left != SIZE_MAX)
		r->left -= n;
	return r->left == 0 ? HTTP_STOP : 0;
}

int
envd_file_read(const struct envd_target *t, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct http_request rq = { 0 };
	struct http_response rs;
	struct rd r = { .rs = &rs, .out = out, .offset = offset, .first = true };
	char *url = files_url(t, path, c->a, e);
	const char *what = arena_printf(c->a, "reading %s", path);
	int rc;

	*size = -1;
	if (!url)
		return e->code;
	r.left = max_bytes ? max_bytes : SIZE_MAX;
	if (offset > 0 || max_bytes > 0) {
		if (max_bytes)
			hdr_add(&h, "Range", arena_printf(c->a, "bytes=%llu-%llu",
			    (unsigned long long)offset,
			    (unsigned long long)(offset + max_bytes - 1)));
		else
			hdr_add(&h, "Range", arena_printf(c->a, "bytes=%llu-",
			    (unsigned long long)offset));
	}
	common_headers(t, &h, c->a);
	buf_init(&r.errbody, ERR_BODY_MAX + 1);
	rq.method = "GET";
	rq.url = url;
	rq.headers = h.h;
	rq.nheaders = h.n;
	rq.deadline = call_deadline(c);
	rq.idle_timeout_ms = t->request_timeout_ms > 0 ? (int)t->request_timeout_ms : 0;
	rq.cancel = c->cancel;
	rq.idempotent = true;
	rc = http_do(t->http, &rq, &rs, rd_on_body, &r, c->a, e);
	if (rc) {
		err_prefix(e, "%s in sandbox %s: ", what, sbx(t));
		goto out;
	}
	if (rs.status == 206) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
	} else if (rs.status == 200) {
		*size = rs.content_length;
	} else if (rs.status == 416) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
		if (*size < 0)
			*size = (int64_t)offset;
	} else if (rs.status == 404) {
		rc = err_set(e, ERR_NOTFOUND, "%s does not exist in sandbox %s", path, sbx(t));
	} else {
		rc = http_error(t, what, rs.status, http_response_header(&rs, "Content-Type"),
		    r.errbody.p ? r.errbody.p : "", r.errbody.len, c->a, e);
	}
out:
	http_response_fini(&rs);
	buf_fini(&r.errbody);
	return rc;
}

int
envd_file_write(const struct envd_target *t, const char *path, const void *data, size_t len,
    struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct http_request rq = { 0 };
	struct http_response rs;
	struct http_multipart m;
	struct buf body;
	char *url = files_url(t, path, c->a, e);
	const char *what = arena_printf(c->a, "writing %s", path);
	int rc;

	if (!url)
		return e->code;
	buf_init(&body, 0);
	/* multipart/form-data with the part named "file", as the Go client sends it and
	 * every envd version accepts it (BRIEF §9); the query's path decides the target. */
	if (http_multipart_begin(&m, &body, e) ||
	    http_multipart_part(&m, "file", path, NULL, data ? data : "", len, e) ||
	    http_multipart_end(&m, e)) {
		buf_fini(&body);
		return e->code;
	}
	hdr_add(&h, "Content-Type", m.content_type);
	common_headers(t, &h, c->a);
	rq.method = "POST";
	rq.url = url;
	rq.headers = h.h;
	rq.nheaders = h.n;
	rq.body = body.p;
	rq.body_len = body.len;
	rq.deadline = call_deadline(c);
	rq.idle_timeout_ms = t->request_timeout_ms > 0 ? (int)t->request_timeout_ms : 0;
	rq.cancel = c->cancel;
	rq.idempotent = true;	/* the same bytes to the same path */
	rq.body_max = ERR_BODY_MAX * 16;
	rc = http_do(t->http, &rq, &rs, NULL, NULL, c->a, e);
	if (rc)
		err_prefix(e, "%s in sandbox %s: ", what, sbx(t));
	else if (rs.status != 200 && rs.status != 201)
		rc = http_error(t, what, rs.status, http_response_header(&rs, "Content-Type"),
		    rs.body.p ? rs.body.p : "", rs.body.len, c->a, e);
	http_response_fini(&rs);
	buf_fini(&body);
	return rc;
}

static int64_t
jint(const struct json *o, const char *k, int64_t dflt)
{
	int64_t v;
	double d;
	const struct json *j = json_get(o, k);

	if (json_int(j, &v))
		return v;
	if (json_double(j, &d))
		return (int64_t)d;
	return dflt;
}

int
envd_metrics(const struct envd_target *t, struct sb_metrics *out, struct call *c,
    struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct http_request rq = { 0 };
	struct http_response rs;
	const struct json *j;
	char *url = envd_url(t, "/metrics", c->a, e);
	double d;
	int rc;

	if (!url)
		return e->code;
	common_headers(t, &h, c->a);
	rq.method = "GET";
	rq.url = url;
	rq.headers = h.h;
	rq.nheaders = h.n;
	rq.deadline = unary_deadline(t, c);
	rq.cancel = c->cancel;
	rq.body_max = 64 * 1024;
	rc = http_do(t->http, &rq, &rs, NULL, NULL, c->a, e);
	if (rc) {
		err_prefix(e, "reading metrics of sandbox %s: ", sbx(t));
		goto out;
	}
	if (rs.status != 200) {
		rc = http_error(t, "reading metrics", rs.status,
		    http_response_header(&rs, "Content-Type"), rs.body.p ? rs.body.p : "",
		    rs.body.len, c->a, e);
		goto out;
	}
	j = json_parse(rs.body.p ? rs.body.p : "", rs.body.len, c->a, e);
	if (!j || j->type != JSON_OBJECT) {
		rc = err_set(e, ERR_PROTO, "envd of sandbox %s sent metrics that are not a JSON "
		    "object", sbx(t));
		goto out;
	}
	memset(out, 0, sizeof *out);
	out->cpu_count = (double)jint(j, "cpu_count", 0);
	out->cpu_used_pct = json_double(json_get(j, "cpu_used_pct"), &d) ? d : -1;
	out->mem_total_bytes = jint(j, "mem_total", -1);
	out->mem_used_bytes = jint(j, "mem_used", -1);
	out->disk_total_bytes = jint(j, "disk_total", -1);
	out->disk_used_bytes = jint(j, "disk_used", -1);
	out->timestamp = jint(j, "ts", 0) * 1000;
	if (out->timestamp == 0)
		out->timestamp = time_wall_ms();
out:
	http_response_fini(&rs);
	return rc;
}

/* Small helpers ----------------------------------------------------------------------------- */

bool
envd_exit_status(const struct envd_event *end, int *code)
{
	static const struct {
		const char *name;
		int signo;
	} sigs[] = {
		{ "hangup", 1 }, { "interrupt", 2 }, { "quit", 3 }, { "illegal instruction", 4 },
		{ "trace/breakpoint trap", 5 }, { "aborted", 6 }, { "bus error", 7 },
		{ "floating point exception", 8 }, { "killed", 9 }, { "user defined signal 1", 10 },
		{ "segmentation fault", 11 }, { "user defined signal 2", 12 },
		{ "broken pipe", 13 }, { "alarm clock", 14 }, { "terminated", 15 },
	};

	if (end->exited) {
		*code = end->exit_code;
		return true;
	}
	/* Go's ProcessState.String(): "signal: killed" (BRIEF §7). */
	if (str_has_prefix(end->status, "signal: ")) {
		const char *name = end->status + 8;

		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
			if (strcmp(name, sigs[i].name) == 0) {
				*code = 128 + sigs[i].signo;
				return true;
			}
		}
	}
	return false;
}

struct run_state {
	int exit_code;
	bool have;
};

static int
run_event(void *arg, const struct envd_event *ev, struct err *e)
{
	struct run_state *rs = arg;

	if (ev->type == ENVD_EV_END)
		rs->have = envd_exit_status(ev, &rs->exit_code);
	return 0;
}

int
envd_run(const struct envd_target *t, const char *const *argv, size_t argc, const char *cwd,
    int *exit_code, struct call *c, struct err *e)
{
	struct envd_start_req rq = { .argv = argv, .argc = argc, .cwd = cwd };
	struct run_state rs = { -1, false };
	int rc = envd_start(t, &rq, run_event, &rs, c, e);

	if (rc == 0 && !rs.have)
		rc = err_set(e, ERR_BACKEND, "%s in sandbox %s ended without an exit status",
		    argv[0], sbx(t));
	*exit_code = rs.exit_code;
	return rc;
}

/* Background processes ------------------------------------------------------------------------ */

static bool
sleep_or_cancel(struct cancel *c, int ms)
{
	struct pollfd pfd = { cancel_fd(c), POLLIN, 0 };

	if (pfd.fd >= 0)
		poll(&pfd, 1, ms);
	else
		poll(NULL, 0, ms);
	return cancel_fired(c);
}

/* pthread_cond_timedwait for ms on CLOCK_REALTIME (the condvar's default clock). */
static void
cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(cv, mu, &ts);
}

enum bg_state { BG_CONNECTING, BG_RUNNING, BG_ENDED, BG_FAILED };

struct bgproc {
	struct bgproc *next;
	struct arena *a;		/* the target copy lives here */
	struct envd_target t;
	char *sandbox_id;
	uint32_t pid;
	bool attach;			/* watch an existing pid with Connect */
	struct envd_start_req rq;	/* copy, for Start */
	struct cancel *stop;
	pthread_t th;
	bool th_started;
	enum bg_state state;
	struct err failure;
	struct buf out;			/* output tail */
	uint64_t base;			/* offset of out.p[0] */
	bool has_exit;
	int exit_code;
	char *command;
	int64_t ended_at;
	struct envd_procs *ps;
};

struct envd_procs {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct bgproc *head;
	size_t n;
};

struct envd_procs *
envd_procs_new(void)
{
	struct envd_procs *ps = xcalloc(1, sizeof *ps);

	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cond, NULL);
	return ps;
}

static void
bg_free(struct bgproc *p)
{
	if (!p)
		return;
	cancel_free(p->stop);
	buf_fini(&p->out);
	arena_free(p->a);
	free(p);
}

void
envd_procs_free(struct envd_procs *ps)
{
	struct bgproc *p, *next;

	if (!ps)
		return;
	pthread_mutex_lock(&ps->mu);
	for (p = ps->head; p; p = p->next)
		cancel_fire(p->stop);
	pthread_mutex_unlock(&ps->mu);
	for (p = ps->head; p; p = next) {
		next = p->next;
		if (p->th_started)
			pthread_join(p->th, NULL);
		bg_free(p);
	}
	pthread_cond_destroy(&ps->cond);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

static char *
adup(struct arena *a, const char *s)
{
	return s ? arena_strdup(a, s) : NULL;
}

/* Copies the target and request into p->a so the thread owns them. */
static int
bg_copy(struct bgproc *p, const struct envd_target *t, const struct envd_start_req *rq,
    struct err *e)
{
	struct arena *a = p->a;
	struct http_header *hx = NULL;

	p->t = *t;
	p->t.base_url = adup(a, t->base_url);
	p->t.sandbox_id = p->sandbox_id = adup(a, t->sandbox_id ? t->sandbox_id : "");
	p->t.access_token = adup(a, t->access_token);
	p->t.user = adup(a, t->user);
	if (t->nextra) {
		hx = arena_alloc(a, t->nextra * sizeof *hx);
		for (size_t i = 0; hx && i < t->nextra; i++) {
			hx[i].name = adup(a, t->extra[i].name);
			hx[i].value = adup(a, t->extra[i].value);
		}
	}
	p->t.extra = hx;
	if (rq) {
		struct kv *env = rq->nenv ? arena_alloc(a, rq->nenv * sizeof *env) : NULL;

		p->rq = *rq;
		p->command = adup(a, rq->command);
		p->rq.command = p->command;
		p->rq.cwd = adup(a, rq->cwd);
		p->rq.tag = adup(a, rq->tag);
		p->rq.argv = NULL;
		p->rq.argc = 0;
		for (size_t i = 0; env && i < rq->nenv; i++) {
			env[i].key = adup(a, rq->env[i].key);
			env[i].value = adup(a, rq->env[i].value ? rq->env[i].value : "");
		}
		p->rq.env = env;
	}
	if (!p->t.base_url || (t->nextra && !hx))
		return err_set(e, ERR_TOOBIG, "background process bookkeeping is out of memory");
	return 0;
}

static int
bg_event(void *arg, const struct envd_event *ev, struct err *e)
{
	struct bgproc *p = arg;
	struct envd_procs *ps = p->ps;

	pthread_mutex_lock(&ps->mu);
	switch (ev->type) {
	case ENVD_EV_START:
		p->pid = ev->pid;
		p->state = BG_RUNNING;
		break;
	case ENVD_EV_STDOUT:
	case ENVD_EV_STDERR:
	case ENVD_EV_PTY:
		if (buf_append(&p->out, ev->data, ev->len, NULL) == 0 &&
		    p->out.len > ENVD_BG_KEEP_BYTES) {
			size_t drop = p->out.len - ENVD_BG_KEEP_BYTES / 2;

			buf_consume(&p->out, drop);
			p->base += drop;
		}
		break;
	case ENVD_EV_END:
		p->has_exit = envd_exit_status(ev, &p->exit_code);
		p->state = BG_ENDED;
		p->ended_at = time_mono_ms();
		break;
	default:
		break;
	}
	pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&ps->mu);
	return 0;
}

static void
bg_set_state(struct bgproc *p, enum bg_state st, const struct err *why)
{
	pthread_mutex_lock(&p->ps->mu);
	p->state = st;
	if (why)
		p->failure = *why;
	if (st == BG_ENDED || st == BG_FAILED)
		p->ended_at = time_mono_ms();
	pthread_cond_broadcast(&p->ps->cond);
	pthread_mutex_unlock(&p->ps->mu);
}

static void *
bg_main(void *arg)
{
	struct bgproc *p = arg;
	int tries = 0;
	bool first = true;

	for (;;) {
		struct arena *a = arena_new(1024 * 1024);
		struct call c = { a, p->stop, DEADLINE_NONE };
		struct err e = { 0 };
		enum bg_state st;
		int rc;

		if (first && !p->attach)
			rc = envd_start(&p->t, &p->rq, bg_event, p, &c, &e);
		else
			rc = envd_connect(&p->t, p->pid, bg_event, p, &c, &e);
		arena_free(a);
		pthread_mutex_lock(&p->ps->mu);
		st = p->state;
		pthread_mutex_unlock(&p->ps->mu);
		if (st == BG_ENDED || cancel_fired(p->stop))
			break;
		if (st == BG_CONNECTING || rc == ERR_NOTFOUND || ++tries > BG_REATTACH_TRIES) {
			/* Never started, gone, or unreachable for good. */
			if (rc == 0)
				err_set(&e, ERR_PROTO, "envd ended the stream of process %u without "
				    "an end event", p->pid);
			log_msg(LOG_INFO, "envd", "stopped watching process %u in sandbox %s: %s",
			    p->pid, p->sandbox_id, e.msg);
			/* FAILED, not ENDED: the next process_output attaches afresh (the process
			 * may still run, e.g. after a pause and resume). */
			bg_set_state(p, BG_FAILED, &e);
			break;
		}
		/* The stream broke while the process runs: re-attach with Connect. */
		log_msg(LOG_INFO, "envd", "re-attaching to process %u in sandbox %s after: %s",
		    p->pid, p->sandbox_id, e.msg);
		first = false;
		if (sleep_or_cancel(p->stop, 250 * tries))
			break;
	}
	return NULL;
}

/* Adds p to the table, evicting the oldest ended entry when full. Called locked. */
static int
bg_insert(struct envd_procs *ps, struct bgproc *p, struct err *e)
{
	if (ps->n >= BG_MAX) {
		struct bgproc **pp, **oldest = NULL;

		for (pp = &ps->head; *pp; pp = &(*pp)->next)
			if (((*pp)->state == BG_ENDED || (*pp)->state == BG_FAILED) &&
			    (!oldest || (*pp)->ended_at < (*oldest)->ended_at))
				oldest = pp;
		if (!oldest)
			return err_set(e, ERR_TOOBIG, "%d background processes are being watched "
			    "already; kill some with process_kill first", BG_MAX);
		struct bgproc *old = *oldest;

		*oldest = old->next;
		ps->n--;
		/* Its thread has finished (ENDED/FAILED are set last). */
		if (old->th_started)
			pthread_join(old->th, NULL);
		bg_free(old);
	}
	p->next = ps->head;
	ps->head = p;
	ps->n++;
	return 0;
}

static struct bgproc *
bg_new(struct envd_procs *ps)
{
	struct bgproc *p = xcalloc(1, sizeof *p);

	p->a = arena_new(256 * 1024);
	p->stop = cancel_new();
	p->ps = ps;
	buf_init(&p->out, 0);
	return p;
}

/* Waits (locked) until p leaves BG_CONNECTING, or the call ends. */
static int
bg_wait_started(struct envd_procs *ps, struct bgproc *p, struct call *c, struct err *e)
{
	while (p->state == BG_CONNECTING) {
		if (cancel_fired(c->cancel))
			return err_set(e, ERR_CANCELLED, "cancelled while waiting for envd");
		if (deadline_passed(call_deadline(c)))
			return err_set(e, ERR_TIMEOUT, "timed out waiting for envd to start the "
			    "process");
		cond_wait_ms(&ps->cond, &ps->mu, 100);
	}
	if (p->state == BG_FAILED) {
		err_set(e, p->failure.code ? p->failure.code : ERR_BACKEND, "%s",
		    p->failure.msg[0] ? p->failure.msg : "envd did not start the process");
		return e->code;
	}
	return 0;
}

int
envd_procs_start(struct envd_procs *ps, const struct envd_target *t,
    const struct envd_start_req *rq, uint32_t *pid, struct call *c, struct err *e)
{
	struct bgproc *p = bg_new(ps);
	int rc = bg_copy(p, t, rq, e);

	if (rc) {
		bg_free(p);
		return rc;
	}
	pthread_mutex_lock(&ps->mu);
	rc = bg_insert(ps, p, e);
	if (rc) {
		pthread_mutex_unlock(&ps->mu);
		bg_free(p);
		return rc;
	}
	if (pthread_create(&p->th, NULL, bg_main, p) != 0) {
		p->state = BG_FAILED;
		err_set(&p->failure, ERR_IO, "cannot start a thread for the process stream");
	} else {
		p->th_started = true;
	}
	rc = bg_wait_started(ps, p, c, e);
	if (rc == 0)
		*pid = p->pid;
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static struct bgproc *
bg_find(struct envd_procs *ps, const char *sandbox_id, uint32_t pid)
{
	for (struct bgproc *p = ps->head; p; p = p->next)
		if (p->pid == pid && p->state != BG_FAILED &&
		    strcmp(p->sandbox_id, sandbox_id ? sandbox_id : "") == 0)
			return p;
	return NULL;
}

/* A FAILED entry of that process (a stream given up on), or NULL. Called locked. */
static struct bgproc *
bg_find_lost(struct envd_procs *ps, const char *sandbox_id, uint32_t pid)
{
	for (struct bgproc *p = ps->head; p; p = p->next)
		if (p->pid == pid && p->state == BG_FAILED &&
		    strcmp(p->sandbox_id, sandbox_id ? sandbox_id : "") == 0)
			return p;
	return NULL;
}

/* Unlinks an entry. Called locked. */
static void
bg_remove(struct envd_procs *ps, struct bgproc *victim)
{
	for (struct bgproc **pp = &ps->head; *pp; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			ps->n--;
			break;
		}
	}
}

int
envd_procs_output(struct envd_procs *ps, const struct envd_target *t, uint32_t pid,
    uint64_t offset, int64_t wait_ms, size_t max_bytes, struct proc_output *out,
    struct call *c, struct err *e)
{
	struct bgproc *p;
	int64_t until = wait_ms > 0 ? deadline_min(deadline_in_ms(wait_ms), call_deadline(c))
	    : 0;
	int rc = 0;

	pthread_mutex_lock(&ps->mu);
	p = bg_find(ps, t->sandbox_id, pid);
	if (!p) {
		/* Not ours, or its stream was lost: attach with Connect. Offsets continue
		 * where a lost stream left them. */
		struct bgproc *lost = bg_find_lost(ps, t->sandbox_id, pid);

		p = bg_new(ps);
		p->attach = true;
		p->pid = pid;
		if (lost) {
			p->base = lost->base + lost->out.len;
			bg_remove(ps, lost);
			if (lost->th_started)
				pthread_join(lost->th, NULL);
			bg_free(lost);
		}
		rc = bg_copy(p, t, NULL, e);
		if (rc == 0)
			rc = bg_insert(ps, p, e);
		if (rc) {
			pthread_mutex_unlock(&ps->mu);
			bg_free(p);
			return rc;
		}
		if (pthread_create(&p->th, NULL, bg_main, p) == 0)
			p->th_started = true;
		else
			p->state = BG_FAILED;
		rc = bg_wait_started(ps, p, c, e);
		if (rc) {
			bool failed = p->state == BG_FAILED;

			if (failed)
				bg_remove(ps, p);
			pthread_mutex_unlock(&ps->mu);
			if (failed) {
				if (p->th_started)
					pthread_join(p->th, NULL);
				bg_free(p);
				if (rc == ERR_NOTFOUND) {
					err_clear(e);
					rc = err_set(e, ERR_NOTFOUND, "process %u is not running in "
					    "sandbox %s; list them with process_list", pid,
					    t->sandbox_id ? t->sandbox_id : "");
				}
			}
			return rc;
		}
	}
	/* Wait for output past offset, or the end. */
	while (wait_ms > 0 && p->state == BG_RUNNING && p->base + p->out.len <= offset) {
		if (cancel_fired(c->cancel) || deadline_passed(until))
			break;
		cond_wait_ms(&ps->cond, &ps->mu, 100);
	}
	uint64_t from = offset < p->base ? p->base : offset;
	uint64_t end = p->base + p->out.len;
	size_t n = from < end ? (size_t)(end - from) : 0;

	if (max_bytes && n > max_bytes)
		n = max_bytes;
	buf_init(&out->data, 0);
	if (n && buf_append(&out->data, p->out.p + (from - p->base), n, e))
		rc = e->code;
	out->next_offset = from + n;
	out->running = p->state == BG_RUNNING || p->state == BG_CONNECTING;
	out->has_exit = p->state == BG_ENDED && p->has_exit;
	out->exit_code = p->exit_code;
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

int
envd_procs_ended(struct envd_procs *ps, const char *sandbox_id, struct proc_info **out,
    size_t *n, struct arena *a)
{
	size_t k = 0, cap = 0;
	struct proc_info *items = NULL;

	pthread_mutex_lock(&ps->mu);
	for (struct bgproc *p = ps->head; p; p = p->next)
		if (p->state == BG_ENDED && strcmp(p->sandbox_id, sandbox_id ? sandbox_id : "") == 0)
			cap++;
	if (cap)
		items = arena_zalloc(a, cap * sizeof *items);
	for (struct bgproc *p = ps->head; items && p; p = p->next) {
		if (p->state != BG_ENDED || strcmp(p->sandbox_id, sandbox_id ? sandbox_id : ""))
			continue;
		items[k].pid = arena_printf(a, "%u", p->pid);
		items[k].command = arena_strdup(a, p->command ? p->command : "");
		items[k].running = false;
		items[k].has_exit = p->has_exit;
		items[k].exit_code = p->exit_code;
		k++;
	}
	pthread_mutex_unlock(&ps->mu);
	*out = items;
	*n = k;
	return cap && !items ? ERR_TOOBIG : 0;
}
