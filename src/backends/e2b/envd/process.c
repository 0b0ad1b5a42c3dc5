/*
 * process.c -- envd's process service: the messages (StartRequest, ProcessSelector,
 * SendSignal/SendInput requests, the process event stream, the process list) and the
 * calls Start, Connect, List, SendInput, CloseStdin and SendSignal; and envd_run and
 * envd_exit_status on top of them.
 *
 * No <stdio.h> here: the upstream field names StartRequest.stdin and DataEvent.stdout /
 * .stderr collide with musl's `#define stdout (stdout)`. Formatting goes through the
 * arena and buf printf helpers instead.
 */
#include "backends/e2b/envd/internal.h"

#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "process.pb.h"
#include "util/str.h"

#define ARG_MAX_BYTES (1024 * 1024) /* one decoded cmd/arg string from List */
#define INPUT_CHUNK   (256 * 1024)  /* SendInput message size */

/* Encoding ---------------------------------------------------------------------------------- */

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

		ent.key.funcs.encode = envd_pb_enc_cstr;
		ent.key.arg = (void *)ee->kv[i].key;
		ent.value.funcs.encode = envd_pb_enc_cstr;
		ent.value.arg = (void *)(ee->kv[i].value ? ee->kv[i].value : "");
		if (!pb_encode_tag_for_field(s, f) ||
		    !pb_encode_submessage(s, process_ProcessConfig_EnvsEntry_fields, &ent))
			return false;
	}
	return true;
}

int
envd_pb_start_request(struct buf *out, const struct envd_start_req *rq, struct err *e)
{
	process_StartRequest req = process_StartRequest_init_zero;
	const char *bash_args[3] = { "-l", "-c", rq->command ? rq->command : "" };
	struct enc_args args = { bash_args, 3 };
	struct enc_env env = { rq->env, rq->nenv };
	int rc;

	req.has_process = true;
	if (rq->argv != NULL && rq->argc > 0) {
		req.process.cmd.arg = (void *)rq->argv[0];
		args.v = rq->argv + 1;
		args.n = rq->argc - 1;
	} else {
		req.process.cmd.arg = (void *)"/bin/bash";
	}
	req.process.cmd.funcs.encode = envd_pb_enc_cstr;
	req.process.args.funcs.encode = enc_strs;
	req.process.args.arg = &args;
	if (rq->nenv > 0) {
		req.process.envs.funcs.encode = enc_envs;
		req.process.envs.arg = &env;
	}
	if (rq->cwd != NULL && *rq->cwd) {
		req.process.cwd.funcs.encode = envd_pb_enc_cstr;
		req.process.cwd.arg = (void *)rq->cwd;
	}
	if (rq->tag != NULL) {
		rc = envd_copy_bounded(req.tag, sizeof(req.tag), rq->tag, "the process tag", e);
		if (rc != 0)
			return rc;
		req.has_tag = true;
	}
	/* Present even when false: absent means "keep stdin open" (BRIEF §11.1). */
	req.has_stdin = true;
	req.stdin = rq->stdin_open;
	return envd_pb_to_buf(out, process_StartRequest_fields, &req, e);
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
	return envd_pb_to_buf(out, process_SendSignalRequest_fields, &req, e);
}

int
envd_pb_selector_request(struct buf *out, uint32_t pid, struct err *e)
{
	/* CloseStdinRequest and ConnectRequest are both {1: ProcessSelector}. */
	process_ConnectRequest req = process_ConnectRequest_init_zero;

	req.has_process = true;
	selector(&req.process, pid);
	return envd_pb_to_buf(out, process_ConnectRequest_fields, &req, e);
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
envd_pb_input_request(struct buf *out, uint32_t pid, const void *data, size_t len, struct err *e)
{
	process_SendInputRequest req = process_SendInputRequest_init_zero;
	struct enc_bytes eb = { data, len };
	pb_callback_t *in_stdin = &((pb_callback_t *)&req.input)[0];

	req.has_process = true;
	selector(&req.process, pid);
	req.has_input = true;
	in_stdin->funcs.encode = enc_bytes_cb;
	in_stdin->arg = &eb;
	return envd_pb_to_buf(out, process_SendInputRequest_fields, &req, e);
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
	if (buf_reserve(dd->scratch, n, NULL) != 0)
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
envd_pb_event(const void *p, size_t n, struct envd_event *ev, struct buf *scratch, struct err *e)
{
	process_StartResponse msg = process_StartResponse_init_zero;
	pb_callback_t *out = (pb_callback_t *)&msg.event.data;
	struct dec_data dd[3] = {
		{ scratch, ev, ENVD_EV_STDOUT },
		{ scratch, ev, ENVD_EV_STDERR },
		{ scratch, ev, ENVD_EV_PTY },
	};
	pb_istream_t is = pb_istream_from_buffer(p, n);

	memset(ev, 0, sizeof(*ev));
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
		memcpy(ev->status, msg.event.end.status, sizeof(ev->status));
		if (msg.event.end.has_error)
			memcpy(ev->error, msg.event.end.error, sizeof(ev->error));
	} else if (msg.event.has_start) {
		ev->type = ENVD_EV_START;
		ev->pid = msg.event.start.pid;
	} else if (msg.event.has_keepalive) {
		ev->type = ENVD_EV_KEEPALIVE;
	} else if (msg.event.has_data && ev->type == ENVD_EV_NONE) {
		ev->type = ENVD_EV_STDOUT; /* an empty output chunk */
		ev->data = "";
	}
	return 0;
}

struct dec_strs {
	struct arena *a;
	const char *v[3]; /* the first three args */
	size_t n;         /* args seen */
	char *joined;     /* all args joined with spaces, capped */
};

static char *
dec_string(pb_istream_t *s, struct arena *a)
{
	size_t n = s->bytes_left;
	char *p;

	if (n > ARG_MAX_BYTES)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (p == NULL || !pb_read(s, (pb_byte_t *)p, n))
		return NULL;
	p[n] = '\0';
	return p;
}

static bool
dec_cmd(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_strs *d = *arg;
	char *str = dec_string(s, d->a);

	if (str == NULL)
		PB_RETURN_ERROR(s, "command string too long");
	d->joined = str;
	return true;
}

static bool
dec_arg(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_strs *d = *arg;
	char *str = dec_string(s, d->a);

	if (str == NULL)
		PB_RETURN_ERROR(s, "argument string too long");
	if (d->n < 3)
		d->v[d->n] = str;
	d->n++;
	if (d->joined != NULL && strlen(d->joined) < 4096)
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
		struct envd_proc *ni = arena_alloc(d->a, ncap * sizeof(*ni));

		if (ni == NULL)
			PB_RETURN_ERROR(s, "request arena full");
		if (d->n)
			memcpy(ni, d->items, d->n * sizeof(*ni));
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
		rc = envd_rpc_stream(t, "/process.Process/Start", "starting a command", &req,
		    rq->timeout_ms > 0
		        ? deadline_min(call_deadline(c), deadline_in_ms(rq->timeout_ms))
		        : call_deadline(c),
		    fn, arg, c, e);
	buf_fini(&req);
	return rc;
}

int
envd_connect(const struct envd_target *t, uint32_t pid, envd_event_fn fn, void *arg, struct call *c,
    struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	rc = envd_pb_selector_request(&req, pid, e);
	if (rc == 0)
		rc = envd_rpc_stream(t, "/process.Process/Connect",
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
	rc = envd_rpc_unary(t, "/process.Process/List", "listing processes", &req, true, &resp, c,
	    e);
	if (rc == 0)
		rc = envd_pb_list_response(resp.p ? resp.p : "", resp.len, out, n, c->a, e);
	buf_fini(&resp);
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
			rc = envd_rpc_simple(t, "/process.Process/SendInput", what, &req, false, c,
			    e);
		else
			buf_fini(&req);
		if (rc != 0)
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
	if (rc != 0) {
		buf_fini(&req);
		return rc;
	}
	rc = envd_rpc_simple(t, "/process.Process/CloseStdin",
	    arena_printf(c->a, "closing stdin of process %u", pid), &req, false, c, e);
	if (rc == ERR_UNSUPPORTED) {
		err_clear(e);
		rc = err_set(e, ERR_UNSUPPORTED,
		    "envd of sandbox %s cannot close stdin (CloseStdin "
		    "needs envd 0.5.2 or newer); end the input with the program's own quit "
		    "command or kill the process",
		    envd_sbx(t));
	}
	return rc;
}

int
envd_signal(const struct envd_target *t, uint32_t pid, int signo, struct call *c, struct err *e)
{
	struct buf req;
	int rc;

	if (signo != 15 && signo != 9)
		return err_set(e, ERR_UNSUPPORTED,
		    "envd can send only SIGTERM (15) or SIGKILL "
		    "(9), not signal %d",
		    signo);
	buf_init(&req, 0);
	/* The Signal enum values are the signal numbers: 15 and 9 (BRIEF §11.3). */
	rc = envd_pb_signal_request(&req, pid, signo, e);
	if (rc != 0) {
		buf_fini(&req);
		return rc;
	}
	return envd_rpc_simple(t, "/process.Process/SendSignal",
	    arena_printf(c->a, "sending signal %d to process %u", signo, pid), &req, false, c, e);
}

/* Small helpers ----------------------------------------------------------------------------- */

bool
envd_exit_status(const struct envd_event *end, int *code)
{
	static const struct {
		const char *name;
		int signo;
	} sigs[] = {
		{ "hangup", 1 },
		{ "interrupt", 2 },
		{ "quit", 3 },
		{ "illegal instruction", 4 },
		{ "trace/breakpoint trap", 5 },
		{ "aborted", 6 },
		{ "bus error", 7 },
		{ "floating point exception", 8 },
		{ "killed", 9 },
		{ "user defined signal 1", 10 },
		{ "segmentation fault", 11 },
		{ "user defined signal 2", 12 },
		{ "broken pipe", 13 },
		{ "alarm clock", 14 },
		{ "terminated", 15 },
	};

	if (end->exited) {
		*code = end->exit_code;
		return true;
	}
	/* Go's ProcessState.String(): "signal: killed" (BRIEF §7). */
	if (str_has_prefix(end->status, "signal: ")) {
		const char *name = end->status + 8;

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
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
		    argv[0], envd_sbx(t));
	*exit_code = rs.exit_code;
	return rc;
}
