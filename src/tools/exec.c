/*
 * exec.c -- exec, process_list/output/send_stdin/kill, run_code, code_context_*.
 *
 * Foreground output is captured per stream in a bounded head + tail: the first half of
 * max_output_bytes is kept as it arrives, the rest goes to a ring that always holds the
 * latest bytes, so memory stays at max_output_bytes per stream however much a command
 * prints, and the agent sees how it started and how it ended. Totals are counted apart.
 * Cuts never split a UTF-8 sequence; other invalid bytes become U+FFFD in the JSON writer.
 * Live output goes to ctx->on_output as it arrives, with the same care at chunk edges.
 */
#include "tools/internal.h"
#include "util/str.h"
#include "util/time.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EXEC_OUTPUT_DEFAULT    (64 * 1024)
#define EXEC_OUTPUT_CAP        (1024 * 1024)
#define EXEC_TIMEOUT_DEFAULT_S 50 /* under the 60 s after which many MCP clients give up */
#define EXEC_TIMEOUT_MAX_S     (24 * 3600)
#define EXEC_GRACE_MS          (30 * 1000)
#define PROC_OUTPUT_DEFAULT    (64 * 1024)
#define PROC_WAIT_MAX_S        300

/* Capture ------------------------------------------------------------------------ */

struct cap {
	struct arena *a;
	size_t head_max, tail_max;
	char *head, *ring;
	size_t head_len, ring_len, ring_pos; /* ring_pos: next write index */
	uint64_t total;
};

/* Live forwarding of one stream, holding back an incomplete UTF-8 sequence at a chunk end. */
struct live {
	unsigned char pend[4];
	size_t npend;
};

struct exec_state {
	struct tool_ctx *ctx;
	struct cap out, err;
	struct live lout, lerr;
	const char *pid;
};

static void
cap_init(struct cap *c, struct arena *a, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->a = a;
	c->head_max = max / 2;
	c->tail_max = max - c->head_max;
}

static void
cap_add(struct cap *c, const char *p, size_t n)
{
	size_t take;

	c->total += n;
	if (c->head_len < c->head_max) {
		if (c->head == NULL && (c->head = arena_alloc(c->a, c->head_max)) == NULL)
			c->head_max = 0; /* out of request memory: the bytes count as cut */
		take = c->head_max - c->head_len;
		if (take > n)
			take = n;
		if (take > 0) {
			memcpy(c->head + c->head_len, p, take);
			c->head_len += take;
			p += take;
			n -= take;
		}
	}
	if (n == 0 || c->tail_max == 0)
		return;
	if (c->ring == NULL && (c->ring = arena_alloc(c->a, c->tail_max)) == NULL) {
		c->tail_max = 0;
		return;
	}
	if (n >= c->tail_max) {
		memcpy(c->ring, p + n - c->tail_max, c->tail_max);
		c->ring_pos = 0;
		c->ring_len = c->tail_max;
		return;
	}
	while (n > 0) {
		take = c->tail_max - c->ring_pos;
		if (take > n)
			take = n;
		memcpy(c->ring + c->ring_pos, p, take);
		c->ring_pos = (c->ring_pos + take) % c->tail_max;
		c->ring_len = c->ring_len + take > c->tail_max ? c->tail_max : c->ring_len + take;
		p += take;
		n -= take;
	}
}

/* The captured text: everything, or head + marker + tail when bytes were cut. */
static int
cap_finish(struct cap *c, const char **out, size_t *len, bool *truncated, struct err *e)
{
	size_t hl = c->head_len, tl = c->ring_len, start = 0, cut, n;
	char marker[64], *s;
	int ml = 0;

	if (c->ring_len == c->tail_max)
		start = c->ring_pos; /* the ring is full: its oldest byte is at ring_pos */
	*truncated = c->total > (uint64_t)hl + tl;
	if (*truncated) {
		hl = str_utf8_safe_len(c->head, hl);
		/* Skip continuation bytes so the tail starts on a character. */
		while (tl > 0 && c->tail_max > 0 && c->ring_len - tl < 3 &&
		    ((unsigned char)c->ring[(start + c->ring_len - tl) % c->tail_max] & 0xC0) ==
		        0x80)
			tl--;
		cut = (size_t)(c->total - hl - tl);
		ml = snprintf(marker, sizeof(marker), "\n[... %zu bytes cut ...]\n", cut);
	}
	s = arena_alloc(c->a, hl + (size_t)ml + tl + 1);
	if (s == NULL)
		return err_set(e, ERR_TOOBIG, "out of request memory for the command output");
	if (hl)
		memcpy(s, c->head, hl);
	memcpy(s + hl, marker, (size_t)ml);
	n = hl + (size_t)ml;
	if (tl > 0) {
		size_t first = start + (c->ring_len - tl); /* index of the first kept tail byte */
		size_t i;

		for (i = 0; i < tl; i++)
			s[n + i] = c->ring[(first + i) % c->tail_max];
		n += tl;
	}
	s[n] = '\0';
	*out = s;
	*len = n;
	return 0;
}

static size_t
utf8_seq_len(unsigned char b)
{
	return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

static void
live_send(struct tool_ctx *ctx, struct live *l, enum tool_stream s, const char *p, size_t n)
{
	size_t safe;

	if (ctx->on_output == NULL)
		return;
	while (l->npend > 0 && n > 0) {
		size_t need = utf8_seq_len(l->pend[0]);

		if (((unsigned char)*p & 0xC0) != 0x80) {
			need = l->npend; /* broken sequence: let it go as it is */
		} else {
			l->pend[l->npend++] = (unsigned char)*p++;
			n--;
		}
		if (l->npend >= need) {
			ctx->on_output(ctx->listener, s, (const char *)l->pend, l->npend);
			l->npend = 0;
		}
	}
	if (n == 0)
		return;
	safe = str_utf8_safe_len(p, n);
	if (safe > 0)
		ctx->on_output(ctx->listener, s, p, safe);
	memcpy(l->pend, p + safe, n - safe);
	l->npend = n - safe;
}

static void
live_flush(struct tool_ctx *ctx, struct live *l, enum tool_stream s)
{
	if (ctx->on_output != NULL && l->npend > 0)
		ctx->on_output(ctx->listener, s, (const char *)l->pend, l->npend);
	l->npend = 0;
}

static int
exec_on_event(void *arg, const struct exec_event *ev)
{
	struct exec_state *st = arg;

	switch (ev->type) {
	case EXEC_EV_START:
		if (ev->pid != NULL)
			st->pid = arena_strdup(st->ctx->a, ev->pid);
		break;
	case EXEC_EV_STDOUT:
		cap_add(&st->out, ev->data, ev->len);
		live_send(st->ctx, &st->lout, TOOL_STDOUT, ev->data, ev->len);
		break;
	case EXEC_EV_STDERR:
		cap_add(&st->err, ev->data, ev->len);
		live_send(st->ctx, &st->lerr, TOOL_STDERR, ev->data, ev->len);
		break;
	}
	return 0;
}

static int
exec_write_streams(struct exec_state *st, struct err *e)
{
	const char *o, *r;
	size_t ol, rl;
	bool ot, rt;

	live_flush(st->ctx, &st->lout, TOOL_STDOUT);
	live_flush(st->ctx, &st->lerr, TOOL_STDERR);
	if (cap_finish(&st->out, &o, &ol, &ot, e) != 0 ||
	    cap_finish(&st->err, &r, &rl, &rt, e) != 0)
		return e->code;
	jsonw_kstrn(st->ctx->out, "stdout", o, ol);
	jsonw_kstrn(st->ctx->out, "stderr", r, rl);
	jsonw_kbool(st->ctx->out, "truncated", ot || rt);
	jsonw_key(st->ctx->out, "stdout_bytes");
	jsonw_uint(st->ctx->out, st->out.total);
	jsonw_key(st->ctx->out, "stderr_bytes");
	jsonw_uint(st->ctx->out, st->err.total);
	return 0;
}

/* exec ---------------------------------------------------------------------------- */

static int
exec_parse(struct tool_ctx *ctx, struct exec_req *req, int64_t *timeout_s, int64_t *max_out,
    struct err *e)
{
	struct kv *env;
	const char *in;
	size_t inlen;

	memset(req, 0, sizeof(*req));
	if (tools_arg_str(ctx, "command", &req->command, e) != 0 ||
	    tools_arg_str(ctx, "cwd", &req->cwd, e) != 0 ||
	    tools_arg_env(ctx, "env", &env, &req->nenv, e) != 0 ||
	    tools_arg_int(ctx, "timeout_s", 0, 1, EXEC_TIMEOUT_MAX_S, timeout_s, e) != 0 ||
	    tools_arg_data(ctx, "stdin", &in, &inlen, e) != 0 ||
	    tools_arg_bool(ctx, "background", false, &req->background, e) != 0 ||
	    tools_arg_int(ctx, "max_output_bytes", EXEC_OUTPUT_DEFAULT, 0, EXEC_OUTPUT_CAP, max_out,
	        e) != 0)
		return e->code;
	if (req->command == NULL || *req->command == '\0')
		return err_set(e, ERR_INVAL,
		    "argument 'command' is required: the shell command "
		    "to run");
	req->env = env;
	if (in != NULL) {
		req->stdin_data = in;
		req->stdin_len = inlen; /* stdin is data: a NUL in it is a byte like any other */
	}
	return 0;
}

static int
exec_background(struct tool_ctx *ctx, const char *id, struct exec_req *req, int64_t timeout_s,
    struct err *e)
{
	struct exec_state st;
	struct exec_result res;
	struct call c;

	memset(&st, 0, sizeof(st));
	memset(&res, 0, sizeof(res));
	st.ctx = ctx;
	cap_init(&st.out, ctx->a, 0);
	cap_init(&st.err, ctx->a, 0);
	req->timeout_ms = timeout_s * 1000; /* 0 (not given): runs until it ends or is killed */
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->exec(ctx->t->be.b, id, req, exec_on_event, &st, &res, &c, e) != 0)
		return e->code;
	if (res.pid == NULL)
		res.pid = st.pid;
	if (res.pid == NULL)
		return err_set(e, ERR_BACKEND,
		    "the %s backend started the command but reported no "
		    "process id",
		    ctx->t->be.ops->name);
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_kstr(ctx->out, "pid", res.pid);
	jsonw_kbool(ctx->out, "running", !res.exited);
	if (res.exited)
		jsonw_kint(ctx->out, "exit_code", res.exit_code);
	jsonw_kstr(ctx->out, "command", req->command);
	jsonw_kstr(ctx->out, "note",
	    "started in the background; read its output with "
	    "process_output (pid, offset), send input with process_send_stdin, stop it with "
	    "process_kill");
	return 0;
}

static int
exec_run(struct tool_ctx *ctx, struct err *e)
{
	struct exec_state st;
	struct exec_result res;
	struct exec_req req;
	int64_t timeout_s, max_out, t0;
	const char *id;
	struct call c;
	bool timed_out;
	int rc;

	if (exec_parse(ctx, &req, &timeout_s, &max_out, e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	if (req.background)
		return exec_background(ctx, id, &req, timeout_s, e);
	if (timeout_s == 0)
		timeout_s = EXEC_TIMEOUT_DEFAULT_S;
	req.timeout_ms = timeout_s * 1000;
	memset(&st, 0, sizeof(st));
	memset(&res, 0, sizeof(res));
	st.ctx = ctx;
	cap_init(&st.out, ctx->a, (size_t)max_out);
	cap_init(&st.err, ctx->a, (size_t)max_out);
	tools_call_init(ctx, &c, req.timeout_ms + EXEC_GRACE_MS);
	t0 = time_mono_ms();
	rc = ctx->t->be.ops->exec(ctx->t->be.b, id, &req, exec_on_event, &st, &res, &c, e);
	/* A backend timeout is the command's only when the command had its whole time; an
	 * earlier one (the platform did not answer) keeps the backend's own sentence. */
	timed_out = res.timed_out || (rc == ERR_TIMEOUT && time_mono_ms() - t0 >= req.timeout_ms);
	if (rc != 0 && !timed_out)
		return rc;
	err_clear(e);
	jsonw_key(ctx->out, "exit_code");
	if (res.exited && !timed_out)
		jsonw_int(ctx->out, res.exit_code);
	else
		jsonw_null(ctx->out);
	if (exec_write_streams(&st, e) != 0)
		return e->code;
	jsonw_kint(ctx->out, "duration_ms", time_mono_ms() - t0);
	jsonw_kbool(ctx->out, "timed_out", timed_out);
	if (res.pid != NULL || st.pid != NULL)
		jsonw_kstr(ctx->out, "pid", res.pid != NULL ? res.pid : st.pid);
	if (res.nnetwork_denied > 0)
		tools_write_strs(ctx->out, "network_denied", res.network_denied,
		    res.nnetwork_denied);
	if (timed_out) {
		ctx->is_error = true;
		jsonw_key(ctx->out, "note");
		jsonw_str(ctx->out,
		    arena_printf(ctx->a,
		        "the command did not finish within %lld s "
		        "and was killed; the output up to then is shown. Run long commands with "
		        "background: true and read their output with process_output, or raise "
		        "timeout_s",
		        (long long)timeout_s));
	} else if (res.note != NULL) {
		jsonw_kstr(ctx->out, "note", res.note);
	}
	return 0;
}

/* Background processes ------------------------------------------------------------ */

static int
proc_pid(struct tool_ctx *ctx, const char **pid, struct err *e)
{
	const struct json *v = tools_arg(ctx, "pid");

	/* Integers are accepted too, since a pid looks like one. */
	if (v != NULL && v->type == JSON_NUMBER) {
		*pid = arena_strndup(ctx->a, v->s, v->len);
		return 0;
	}
	if (tools_arg_id(ctx, "pid", pid, e) != 0)
		return e->code;
	if (*pid == NULL || **pid == '\0')
		return err_set(e, ERR_INVAL,
		    "argument 'pid' is required: the id exec returned for "
		    "a background command (process_list shows them)");
	return 0;
}

static int
proc_output_run(struct tool_ctx *ctx, struct err *e)
{
	struct proc_output out;
	int64_t offset, max_bytes;
	const char *id, *pid;
	double wait_s;
	struct call c;
	size_t len;
	uint64_t next;

	if (proc_pid(ctx, &pid, e) != 0 ||
	    tools_arg_int(ctx, "offset", 0, 0, INT64_MAX, &offset, e) != 0 ||
	    tools_arg_num(ctx, "wait_s", 0, 0, PROC_WAIT_MAX_S, &wait_s, e) != 0 ||
	    tools_arg_int(ctx, "max_bytes", PROC_OUTPUT_DEFAULT, 1, EXEC_OUTPUT_CAP, &max_bytes,
	        e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&out, 0, sizeof(out));
	tools_call_init(ctx, &c, (int64_t)(wait_s * 1000) + TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->proc_output(ctx->t->be.b, id, pid, (uint64_t)offset,
	        (int64_t)(wait_s * 1000), (size_t)max_bytes, &out, &c, e) != 0) {
		buf_fini(&out.data);
		return e->code;
	}
	len = out.data.len;
	next = out.next_offset;
	/* While the process runs, an incomplete UTF-8 sequence at the end is left for the
	 * next call (which will have the rest of it), so characters are never split. */
	if (out.running && len > 0 && next == (uint64_t)offset + len) {
		size_t safe = str_utf8_safe_len(out.data.p, len);

		if (len - safe <= 3) {
			next -= len - safe;
			len = safe;
		}
	}
	jsonw_kstrn(ctx->out, "output", out.data.p != NULL ? out.data.p : "", len);
	jsonw_key(ctx->out, "next_offset");
	jsonw_uint(ctx->out, next);
	jsonw_kbool(ctx->out, "running", out.running);
	if (out.has_exit)
		jsonw_kint(ctx->out, "exit_code", out.exit_code);
	jsonw_kstr(ctx->out, "pid", pid);
	if (out.nnetwork_denied > 0)
		tools_write_strs(ctx->out, "network_denied", out.network_denied,
		    out.nnetwork_denied);
	buf_fini(&out.data);
	return 0;
}

static int
proc_stdin_run(struct tool_ctx *ctx, struct err *e)
{
	const char *id, *pid, *data;
	bool close_stdin;
	struct call c;
	size_t len;

	if (proc_pid(ctx, &pid, e) != 0 || tools_arg_data(ctx, "data", &data, &len, e) != 0 ||
	    tools_arg_bool(ctx, "close", false, &close_stdin, e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	if (data == NULL)
		data = "";
	if (len == 0 && !close_stdin)
		return err_set(e, ERR_INVAL,
		    "nothing to send: give 'data', or set close: true to "
		    "end the process's input");
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->proc_stdin(ctx->t->be.b, id, pid, data, len, close_stdin, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "pid", pid);
	jsonw_kint(ctx->out, "bytes_sent", (int64_t)len);
	jsonw_kbool(ctx->out, "closed", close_stdin);
	return 0;
}

static const struct {
	const char *name;
	int signo;
} signals[] = {
	{ "HUP", SIGHUP },
	{ "INT", SIGINT },
	{ "QUIT", SIGQUIT },
	{ "KILL", SIGKILL },
	{ "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
	{ "TERM", SIGTERM },
	{ "STOP", SIGSTOP },
	{ "CONT", SIGCONT },
	{ "ALRM", SIGALRM },
	{ "PIPE", SIGPIPE },
	{ "TSTP", SIGTSTP },
	{ "WINCH", SIGWINCH },
};

static const char *
signal_name(int signo)
{
	size_t i;

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (signals[i].signo == signo)
			return signals[i].name;
	}
	return NULL;
}

/* "SIGKILL", "kill", "9" or 9 -> 9. */
static int
signal_parse(const struct json *v, int *signo, struct err *e)
{
	const char *s;
	int64_t n;
	size_t i;

	*signo = SIGTERM;
	if (v == NULL)
		return 0;
	if (v->type == JSON_NUMBER || (v->type == JSON_STRING && isdigit((unsigned char)*v->s))) {
		if (!(v->type == JSON_NUMBER ? json_int(v, &n)
		                             : str_to_i64((struct str){ v->s, v->len }, &n)) ||
		    n < 1 || n > 64)
			return err_set(e, ERR_INVAL,
			    "signal must be a signal name such as SIGTERM "
			    "or SIGKILL, or a number from 1 to 64");
		*signo = (int)n;
		return 0;
	}
	if (v->type != JSON_STRING)
		return err_set(e, ERR_INVAL, "signal must be a name such as SIGTERM or a number");
	s = v->s;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strcasecmp(s, signals[i].name) == 0) {
			*signo = signals[i].signo;
			return 0;
		}
	}
	return err_set(e, ERR_INVAL,
	    "unknown signal '%.32s'; use SIGTERM, SIGKILL, SIGINT, "
	    "SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGSTOP, SIGCONT or a number",
	    v->s);
}

static int
proc_kill_run(struct tool_ctx *ctx, struct err *e)
{
	const char *id, *pid, *name;
	struct call c;
	int signo;

	if (proc_pid(ctx, &pid, e) != 0 || signal_parse(tools_arg(ctx, "signal"), &signo, e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->proc_kill(ctx->t->be.b, id, pid, signo, &c, e) != 0)
		return e->code;
	name = signal_name(signo);
	jsonw_kstr(ctx->out, "pid", pid);
	jsonw_key(ctx->out, "signal");
	if (name != NULL)
		jsonw_str(ctx->out, arena_printf(ctx->a, "SIG%s", name));
	else
		jsonw_str(ctx->out, arena_printf(ctx->a, "%d", signo));
	jsonw_kbool(ctx->out, "sent", true);
	return 0;
}

static int
proc_list_run(struct tool_ctx *ctx, struct err *e)
{
	struct proc_info *p = NULL;
	const char *id;
	struct call c;
	size_t n = 0, i;

	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->proc_list(ctx->t->be.b, id, &p, &n, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_key(ctx->out, "processes");
	jsonw_arr_begin(ctx->out);
	for (i = 0; i < n; i++) {
		jsonw_obj_begin(ctx->out);
		jsonw_kstr(ctx->out, "pid", p[i].pid != NULL ? p[i].pid : "");
		jsonw_kstr(ctx->out, "command", p[i].command != NULL ? p[i].command : "");
		jsonw_kbool(ctx->out, "running", p[i].running);
		if (p[i].has_exit)
			jsonw_kint(ctx->out, "exit_code", p[i].exit_code);
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	return 0;
}

/* run_code ------------------------------------------------------------------------ */

static bool
mime_is_image(const char *m)
{
	return m != NULL &&
	    (strcmp(m, "image/png") == 0 || strcmp(m, "image/jpeg") == 0 ||
	        strcmp(m, "image/gif") == 0 || strcmp(m, "image/webp") == 0);
}

static int
run_code_run(struct tool_ctx *ctx, struct err *e)
{
	struct exec_state st;
	struct code_result res;
	struct code_req req;
	int64_t timeout_s;
	const char *id;
	struct call c;
	size_t i;

	size_t code_len;

	memset(&req, 0, sizeof(req));
	if (tools_arg_data(ctx, "code", &req.code, &code_len, e) != 0 ||
	    tools_arg_str(ctx, "language", &req.language, e) != 0 ||
	    tools_arg_id(ctx, "context_id", &req.context_id, e) != 0 ||
	    tools_arg_int(ctx, "timeout_s", EXEC_TIMEOUT_DEFAULT_S, 1, EXEC_TIMEOUT_MAX_S,
	        &timeout_s, e) != 0)
		return e->code;
	if (req.code == NULL)
		return err_set(e, ERR_INVAL, "argument 'code' is required");
	/* The platforms' code APIs take code as text without a length, so a NUL would end
	 * it early: say so rather than run the first part. */
	if (memchr(req.code, '\0', code_len) != NULL)
		return err_set(e, ERR_INVAL,
		    "argument 'code' contains U+0000 (NUL), which the "
		    "interpreter cannot be given; write the bytes with file_write (encoding "
		    "base64) and read them from the code");
	if (req.language == NULL || *req.language == '\0')
		req.language = "python";
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	req.timeout_ms = timeout_s * 1000;
	memset(&st, 0, sizeof(st));
	memset(&res, 0, sizeof(res));
	st.ctx = ctx;
	cap_init(&st.out, ctx->a, EXEC_OUTPUT_DEFAULT);
	cap_init(&st.err, ctx->a, EXEC_OUTPUT_DEFAULT);
	tools_call_init(ctx, &c, req.timeout_ms + EXEC_GRACE_MS);
	if (ctx->t->be.ops->run_code(ctx->t->be.b, id, &req, exec_on_event, &st, &res, &c, e) != 0)
		return e->code;
	jsonw_kbool(ctx->out, "ok", res.ok);
	jsonw_kstr(ctx->out, "text", res.text);
	if (exec_write_streams(&st, e) != 0)
		return e->code;
	tools_write_kv_obj(ctx->out, "results", res.results, res.nresults);
	for (i = 0; i < res.nresults; i++) {
		if (ctx->image_b64 == NULL && mime_is_image(res.results[i].key) &&
		    res.results[i].value != NULL) {
			ctx->image_b64 = res.results[i].value;
			ctx->image_mime = res.results[i].key;
		}
	}
	if (!res.ok) {
		jsonw_key(ctx->out, "error");
		jsonw_obj_begin(ctx->out);
		jsonw_kstr(ctx->out, "name", res.error_name != NULL ? res.error_name : "Error");
		jsonw_kstr(ctx->out, "value", res.error_value != NULL ? res.error_value : "");
		jsonw_obj_end(ctx->out);
		ctx->is_error = true;
	}
	jsonw_kint(ctx->out, "execution_count", res.execution_count);
	jsonw_kstr(ctx->out, "language", req.language);
	return 0;
}

/* Code contexts ------------------------------------------------------------------- */

static int
ctx_create_run(struct tool_ctx *ctx, struct err *e)
{
	const char *id, *lang, *cwd;
	struct code_ctx out;
	struct call c;

	if (tools_arg_str(ctx, "language", &lang, e) != 0 ||
	    tools_arg_str(ctx, "cwd", &cwd, e) != 0)
		return e->code;
	if (lang == NULL || *lang == '\0')
		lang = "python";
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&out, 0, sizeof(out));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->code_ctx_create(ctx->t->be.b, id, lang, cwd, &out, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_kstr(ctx->out, "context_id", out.id != NULL ? out.id : "");
	jsonw_kstr(ctx->out, "language", out.language != NULL ? out.language : lang);
	jsonw_kstr(ctx->out, "note",
	    "pass context_id to run_code to run code in this context; "
	    "delete it with code_context_delete when done");
	return 0;
}

static int
ctx_list_run(struct tool_ctx *ctx, struct err *e)
{
	struct code_ctx *v = NULL;
	const char *id, *lang;
	struct call c;
	size_t n = 0, i;

	if (tools_arg_str(ctx, "language", &lang, e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	if (lang != NULL && *lang == '\0')
		lang = NULL;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->code_ctx_list(ctx->t->be.b, id, lang, &v, &n, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_key(ctx->out, "contexts");
	jsonw_arr_begin(ctx->out);
	for (i = 0; i < n; i++) {
		jsonw_obj_begin(ctx->out);
		jsonw_kstr(ctx->out, "context_id", v[i].id != NULL ? v[i].id : "");
		jsonw_kstr(ctx->out, "language", v[i].language != NULL ? v[i].language : "");
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	return 0;
}

static int
ctx_delete_run(struct tool_ctx *ctx, struct err *e)
{
	const char *id, *cid;
	struct call c;
	int rc;

	if (tools_arg_id(ctx, "context_id", &cid, e) != 0)
		return e->code;
	if (cid == NULL || *cid == '\0')
		return err_set(e, ERR_INVAL,
		    "argument 'context_id' is required: the id "
		    "code_context_create returned (code_context_list shows them)");
	if (tools_sandbox_id(ctx, false, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	rc = ctx->t->be.ops->code_ctx_delete(ctx->t->be.b, id, cid, &c, e);
	if (rc != 0 && rc != ERR_NOTFOUND)
		return rc;
	jsonw_kstr(ctx->out, "context_id", cid);
	jsonw_kbool(ctx->out, "deleted", rc == 0);
	if (rc == ERR_NOTFOUND)
		jsonw_kstr(ctx->out, "note", e->msg); /* already gone: nothing to do */
	err_clear(e);
	return 0;
}

/* Schemas ------------------------------------------------------------------------- */

static const char exec_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"command\":{\"type\":\"string\"},"
    "\"cwd\":{\"type\":\"string\",\"description\":\"Default: the workspace.\"},"
    "\"env\":" TOOLS_KV_PLAIN ","
    "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400,\"description\":"
    "\"Default 50 (none in background).\"},"
    "\"stdin\":{\"type\":\"string\"},"
    "\"background\":{\"type\":\"boolean\",\"description\":\"Return a pid at once, for "
    "process_output.\"},"
    "\"max_output_bytes\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1048576,"
    "\"description\":\"Per stream; default 65536.\"}},"
    "\"required\":[\"command\"],\"additionalProperties\":false}";

static const char exec_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"exit_code\":{" TOOLS_OR_NULL(
        "integer") "},"
                   "\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"},"
                   "\"truncated\":{\"type\":\"boolean\"},"
                   "\"stdout_bytes\":{\"type\":\"integer\"},\"stderr_bytes\":{\"type\":\"integer\"},"
                   "\"duration_ms\":{\"type\":\"integer\"},\"timed_out\":{\"type\":\"boolean\"},"
                   "\"pid\":{\"type\":\"string\"},\"running\":{\"type\":\"boolean\"}}}";

#define PID_PROP "\"pid\":{\"type\":\"string\"}"

static const char proc_output_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP "," PID_PROP ","
    "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"0, then "
    "next_offset.\"},"
    "\"wait_s\":{\"type\":\"number\",\"minimum\":0,\"maximum\":300},"
    "\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1048576}},"
    "\"required\":[\"pid\"],\"additionalProperties\":false}";

static const char proc_output_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"output\":{\"type\":\"string\"},"
    "\"next_offset\":{\"type\":\"integer\"},\"running\":{\"type\":\"boolean\"},"
    "\"exit_code\":{\"type\":\"integer\"}},"
    "\"required\":[\"output\",\"next_offset\",\"running\"]}";

static const char proc_stdin_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP "," PID_PROP ","
    "\"data\":{\"type\":\"string\",\"description\":\"Text to send; end lines with \\\\n.\"},"
    "\"close\":{\"type\":\"boolean\",\"description\":\"Then close standard input.\"}},"
    "\"required\":[\"pid\",\"data\"],\"additionalProperties\":false}";

static const char proc_stdin_out[] =
    "{\"type\":\"object\",\"properties\":{\"pid\":{\"type\":\"string\"},"
    "\"bytes_sent\":{\"type\":\"integer\"},\"closed\":{\"type\":\"boolean\"}}}";

static const char proc_kill_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP "," PID_PROP ","
    "\"signal\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"description\":"
    "\"e.g. SIGTERM (default), SIGKILL, 9\"}},"
    "\"required\":[\"pid\"],\"additionalProperties\":false}";

static const char proc_kill_out[] =
    "{\"type\":\"object\",\"properties\":{\"pid\":{\"type\":\"string\"},"
    "\"signal\":{\"type\":\"string\"},\"sent\":{\"type\":\"boolean\"}}}";

static const char proc_list_in[] = "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP
                                   "},"
                                   "\"additionalProperties\":false}";

static const char proc_list_out[] =
    "{\"type\":\"object\",\"properties\":{\"sandbox_id\":{\"type\":\"string\"},"
    "\"processes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"pid\":{\"type\":\"string\"},\"command\":{\"type\":\"string\"},"
    "\"running\":{\"type\":\"boolean\"},\"exit_code\":{\"type\":\"integer\"}}}}},"
    "\"required\":[\"processes\"]}";

static const char run_code_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"code\":{\"type\":\"string\"},"
    "\"language\":{\"type\":\"string\",\"description\":\"python (default), javascript, r, "
    "java, bash, ...\"},"
    "\"context_id\":{\"type\":\"string\",\"description\":\"From code_context_create; "
    "default: the language's default context.\"},"
    "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400,\"description\":"
    "\"Default 50.\"}},"
    "\"required\":[\"code\"],\"additionalProperties\":false}";

static const char run_code_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"ok\":{\"type\":\"boolean\"},"
    "\"text\":{" TOOLS_OR_NULL(
        "string") ",\"description\":\"the last expression's "
                  "value\"},"
                  "\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"},"
                  "\"results\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
                  "\"description\":\"by MIME type\"},"
                  "\"error\":{\"type\":\"object\"}},"
                  "\"required\":[\"ok\",\"stdout\",\"stderr\"]}";

static const char ctx_create_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"language\":{\"type\":\"string\",\"description\":\"python (default), javascript, "
    "typescript, java, go, bash, ...\"},"
    "\"cwd\":{\"type\":\"string\"}},"
    "\"additionalProperties\":false}";

static const char ctx_create_out[] =
    "{\"type\":\"object\",\"properties\":{\"context_id\":{\"type\":\"string\"},"
    "\"language\":{\"type\":\"string\"}},"
    "\"required\":[\"context_id\",\"language\"]}";

static const char ctx_list_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"language\":{\"type\":\"string\",\"description\":\"Default: all.\"}},"
    "\"additionalProperties\":false}";

static const char ctx_list_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"contexts\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"context_id\":{\"type\":\"string\"},\"language\":{\"type\":\"string\"}}}}},"
    "\"required\":[\"contexts\"]}";

static const char ctx_delete_in[] = "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP
                                    ","
                                    "\"context_id\":{\"type\":\"string\"}},"
                                    "\"required\":[\"context_id\"],\"additionalProperties\":false}";

static const char ctx_delete_out[] =
    "{\"type\":\"object\",\"properties\":{\"context_id\":{\"type\":\"string\"},"
    "\"deleted\":{\"type\":\"boolean\"}},"
    "\"required\":[\"context_id\",\"deleted\"]}";

/* Table --------------------------------------------------------------------------- */

TOOLS_NEEDS(has_exec, exec)
TOOLS_NEEDS(has_proc_list, proc_list)
TOOLS_NEEDS(has_proc_output, proc_output)
TOOLS_NEEDS(has_proc_stdin, proc_stdin)
TOOLS_NEEDS(has_proc_kill, proc_kill)
TOOLS_NEEDS(has_run_code, run_code)
TOOLS_NEEDS(has_ctx_create, code_ctx_create)
TOOLS_NEEDS(has_ctx_list, code_ctx_list)
TOOLS_NEEDS(has_ctx_delete, code_ctx_delete)

const struct tool_def tools_exec_defs[] = {
	{ "exec", "Run command",
	    "Run a bash command; returns exit code, stdout and stderr (long output keeps start "
	    "and end). Killed past timeout_s; use background: true for servers and long jobs.",
	    exec_in, exec_out, TOOL_DESTRUCTIVE | TOOL_OPENWORLD, true, has_exec, exec_run,
	    "stdin" },
	{ "process_list", "List processes",
	    "List the background processes started with exec and whether they still run.",
	    proc_list_in, proc_list_out, TOOL_READONLY | TOOL_IDEMPOTENT, false, has_proc_list,
	    proc_list_run, NULL },
	{ "process_output", "Read process output",
	    "Read a background process's output from a byte offset, waiting up to wait_s "
	    "seconds for more or its exit.",
	    proc_output_in, proc_output_out, TOOL_READONLY | TOOL_IDEMPOTENT, true, has_proc_output,
	    proc_output_run, NULL },
	{ "process_send_stdin", "Send input to process",
	    "Write to a background process's standard input; close: true ends it.", proc_stdin_in,
	    proc_stdin_out, 0, false, has_proc_stdin, proc_stdin_run, "data" },
	{ "process_kill", "Signal process",
	    "Send a signal to a background process (default SIGTERM).", proc_kill_in, proc_kill_out,
	    TOOL_DESTRUCTIVE | TOOL_IDEMPOTENT, false, has_proc_kill, proc_kill_run, NULL },
	{ "run_code", "Run code",
	    "Run code in a stateful interpreter (Python by default), like a notebook cell. "
	    "Returns stdout, stderr, the last value and rich results (charts as images).",
	    run_code_in, run_code_out, TOOL_DESTRUCTIVE | TOOL_OPENWORLD, false, has_run_code,
	    run_code_run, NULL },
	{ "code_context_create", "Create code context",
	    "Start an interpreter context with its own state, for run_code's context_id.",
	    ctx_create_in, ctx_create_out, 0, false, has_ctx_create, ctx_create_run, NULL },
	{ "code_context_list", "List code contexts",
	    "List the interpreter contexts in a sandbox, the default ones included.", ctx_list_in,
	    ctx_list_out, TOOL_READONLY | TOOL_IDEMPOTENT, false, has_ctx_list, ctx_list_run,
	    NULL },
	{ "code_context_delete", "Delete code context",
	    "Delete an interpreter context and its state.", ctx_delete_in, ctx_delete_out,
	    TOOL_DESTRUCTIVE | TOOL_IDEMPOTENT, false, has_ctx_delete, ctx_delete_run, NULL },
};
const size_t tools_exec_ndefs = sizeof(tools_exec_defs) / sizeof(tools_exec_defs[0]);
