/*
 * exec.c -- execd's event streams (§0.3-§0.7, §3.2, §3.4), shared with run_code, and
 * exec: one POST /command whose events become exec events, with stopping, status and
 * recovery when the stream breaks.
 *
 * Choices:
 *   - Exit codes come from the final event (§0.5); "-1" (a signal) is reported as "did not
 *     exit". The stream is closed at the final event, so exec never pays the 1 s tail.
 *   - stdin for exec is uploaded to a file that the command opens as fd 0 and unlinks.
 *   - Commands go to execd verbatim, so they run under execd's `bash -c` (sh without bash),
 *     not a login shell as on local and e2b: that is what OpenSandbox's SDKs do, and a
 *     login shell would run /etc/profile, which on Debian-based images resets PATH and
 *     loses the image's ENV PATH (golang, conda, JDK images) and the call's env PATH.
 */
#include "backends/opensandbox/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

#define OS_EVENTS_IDLE_MS   20000      /* event streams: execd pings every 3 s after init */
#define OS_EVENT_MAX        (8u << 20) /* one execd event (one output line) */
#define OS_SCRATCH_MAX      (32u << 20)
#define OS_SCRATCH_RECYCLE  (1u << 20)
#define OS_TIMEOUT_GRACE_MS 5000 /* execd kills at `timeout`; we give up this much later */

void
os_st_init(struct os_stream *st, struct call *c, enum os_mode mode, exec_event_fn fn, void *arg)
{
	memset(st, 0, sizeof(*st));
	st->c = c;
	st->mode = mode;
	st->fn = fn;
	st->arg = arg;
	stream_dec_init(&st->dec, STREAM_EXECD, OS_EVENT_MAX);
	st->scratch = arena_new(OS_SCRATCH_MAX);
	buf_init(&st->errbody, OS_ERR_BODY_MAX);
}

void
os_st_fini(struct os_stream *st)
{
	stream_dec_fini(&st->dec);
	arena_free(st->scratch);
	buf_fini(&st->tb);
	buf_fini(&st->errbody);
	buf_fini(&st->line);
}

static int
st_emit(struct os_stream *st, enum exec_event_type type, const char *p, size_t n, struct err *e)
{
	struct exec_event ev = { .type = type, .data = p, .len = n };

	if (type == EXEC_EV_START)
		ev.pid = st->id;
	if (st->fn != NULL && st->fn(st->arg, &ev) != 0) {
		st->stopped = true;
		return err_set(e, ERR_CANCELLED, "stopped by the caller");
	}
	return 0;
}

/* stdout/stderr: §0.4 -- commands send one line per event without its terminator (an
 * empty line is "\n"); /code sends raw chunks. */
static int
st_output(struct os_stream *st, const struct json *j, enum exec_event_type type, struct err *e)
{
	const struct json *t = json_get(j, "text");

	if (t == NULL || t->type != JSON_STRING)
		return 0;
	if (st->mode == MODE_CODE || (t->len == 1 && t->s[0] == '\n'))
		return st_emit(st, type, t->s, t->len, e);
	buf_reset(&st->line);
	if (buf_append(&st->line, t->s, t->len, e) != 0 || buf_putc(&st->line, '\n', e) != 0)
		return e->code;
	return st_emit(st, type, st->line.p, st->line.len, e);
}

static int
st_result(struct os_stream *st, const struct json *j, struct err *e)
{
	const struct json *r = json_get(j, "results"), *m;
	struct arena *a = st->c->a;

	if (st->cr == NULL || r == NULL || r->type != JSON_OBJECT)
		return 0;
	for (m = r->head; m != NULL; m = m->next) {
		const char *v;

		if (m->type == JSON_STRING) {
			v = arena_strndup(a, m->s, m->len);
		} else {
			struct buf bf = { 0 };
			struct jsonw w;

			jsonw_init(&w, &bf);
			jsonw_value(&w, m);
			v = arena_strndup(a, bf.p != NULL ? bf.p : "null",
			    bf.p != NULL ? bf.len : 4);
			buf_fini(&bf);
		}
		if (v == NULL)
			return OOM(e);
		/* execd renames text/plain to "text" (§3.2). */
		if (strcmp(m->key, "text") == 0 || strcmp(m->key, "text/plain") == 0) {
			st->cr->text = v;
			continue;
		}
		if (st->nres == st->capres) {
			size_t cap = st->capres ? st->capres * 2 : 8;
			struct kv *n = arena_alloc(a, cap * sizeof(*n));

			if (n == NULL)
				return OOM(e);
			if (st->nres > 0)
				memcpy(n, st->res, st->nres * sizeof(*n));
			st->res = n;
			st->capres = cap;
		}
		st->res[st->nres++] = (struct kv){ arena_strdup(a, m->key), v };
	}
	st->cr->results = st->res;
	st->cr->nresults = st->nres;
	return 0;
}

static int
st_error(struct os_stream *st, const struct json *j, struct err *e)
{
	const struct json *er = json_get(j, "error"), *tb, *x;
	const char *n = json_get_str(er, "ename"), *v = json_get_str(er, "evalue");

	st->ename = arena_strdup(st->c->a, n != NULL ? n : "Error");
	st->evalue = arena_strdup(st->c->a, v != NULL ? v : "");
	tb = json_get(er, "traceback");
	for (x = tb != NULL ? tb->head : NULL; x != NULL; x = x->next) {
		if (x->type != JSON_STRING)
			continue;
		if (st->tb.len > 0)
			buf_putc(&st->tb, '\n', NULL);
		buf_append(&st->tb, x->s, x->len, NULL);
	}
	if (st->ename == NULL || st->evalue == NULL)
		return OOM(e);
	st->done = true;
	return HTTP_STOP;
}

static int
st_event(void *arg, const struct stream_event *ev, struct err *e)
{
	struct os_stream *st = arg;
	const char *type;
	struct json *j;

	if (ev->data.len == 0)
		return 0;
	if (arena_used(st->scratch) > OS_SCRATCH_RECYCLE) {
		arena_free(st->scratch);
		st->scratch = arena_new(OS_SCRATCH_MAX);
	}
	j = json_parse(ev->data.p, ev->data.len, st->scratch, e);
	if (j == NULL || j->type != JSON_OBJECT) {
		e->code = ERR_PROTO;
		if (j != NULL)
			err_set(e, ERR_PROTO, "execd sent an event that is not a JSON object");
		else
			err_prefix(e, "execd sent an event that is not JSON: ");
		return ERR_PROTO;
	}
	type = json_get_str(j, "type");
	if (type == NULL) {
		/* A raw {code, message} appended to the stream (§3.3). */
		const char *code = json_get_str(j, "code"), *msg = json_get_str(j, "message");

		return err_set(e, ERR_BACKEND, "execd reported an error in the stream (%s: %s)",
		    code != NULL ? code : "?", msg != NULL ? msg : "no message");
	}
	if (strcmp(type, "init") == 0) {
		const char *t = json_get_str(j, "text");

		snprintf(st->id, sizeof(st->id), "%s", t != NULL ? t : "");
		st->have_id = st->id[0] != '\0';
		if (st_emit(st, EXEC_EV_START, NULL, 0, e) != 0)
			return e->code;
		if (st->background) {
			st->done = st->ok = true;
			return HTTP_STOP;
		}
		return 0;
	}
	if (strcmp(type, "stdout") == 0)
		return st_output(st, j, EXEC_EV_STDOUT, e);
	if (strcmp(type, "stderr") == 0)
		return st_output(st, j, EXEC_EV_STDERR, e);
	if (strcmp(type, "result") == 0)
		return st_result(st, j, e);
	if (strcmp(type, "execution_count") == 0) {
		int64_t n;

		if (st->cr != NULL && json_int(json_get(j, "execution_count"), &n))
			st->cr->execution_count = n;
		return 0;
	}
	if (strcmp(type, "execution_complete") == 0) {
		st->done = st->ok = true;
		return HTTP_STOP; /* §0.6: do not wait for the 1 s tail */
	}
	if (strcmp(type, "error") == 0)
		return st_error(st, j, e);
	return 0; /* ping, status, and types added later */
}

static int
st_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct os_stream *st = arg;

	if (st->rs->status != 200) {
		size_t room = OS_ERR_BODY_MAX - st->errbody.len;

		(void)buf_append(&st->errbody, p, n < room ? n : room, NULL);
		return 0;
	}
	return stream_feed(&st->dec, p, n, st_event, st, e);
}

int
os_st_run(struct backend *b, struct call *c, struct os_stream *st, const struct ep *ep,
    const char *url, const char *body, size_t len, int64_t deadline, const char *what,
    int *http_status, struct err *e)
{
	struct os_rq r = { .method = "POST",
		.url = url,
		.svc = OS_EXECD,
		.ep = ep,
		.body = body,
		.len = len,
		.on_body = st_body,
		.arg = st,
		.deadline = deadline,
		.idle_ms = OS_EVENTS_IDLE_MS };
	struct http_response rs;
	int rc;

	*http_status = 0;
	memset(&rs, 0, sizeof(rs));
	st->rs = &rs;
	rc = os_do(b, c, &r, what, &rs, e);
	if (rc == 0 && rs.status != 200) {
		*http_status = rs.status;
		rc = rest_status_err(&os_peers[OS_EXECD], what, &rs, st->errbody.p, st->errbody.len,
		    c->a, e);
	} else if (rc == 0 && !st->done) {
		rc = stream_feed_end(&st->dec, st_event, st, e);
		if (rc == HTTP_STOP)
			rc = 0;
		if (rc == 0 && !st->done)
			rc = err_set(e, ERR_PROTO, "the execd stream ended before the final event");
	}
	http_response_fini(&rs);
	st->rs = NULL;
	return rc;
}

int
os_interrupt(struct backend *b, struct call *c, const struct ep *ep, const char *route,
    const char *cid, bool cleanup, struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_EXECD, .ep = ep, .cleanup = cleanup };
	const char *path = arena_printf(c->a, "%s?id=%s", route, qv(c, cid));
	const char *what = arena_printf(c->a, "stopping %s", cid);
	int rc, st = 0;

	if (path == NULL || what == NULL)
		return OOM(e);
	if ((r.url = os_ep_url(b, c, ep, path, e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, what, NULL, &st, e);
	if (rc != 0 && st == 500 && strstr(e->msg, "not running") != NULL) {
		err_clear(e);
		return 0;
	}
	if (rc != 0 && st == 500 && strstr(e->msg, "no such session") != NULL) {
		err_clear(e);
		return err_set(e, ERR_NOTFOUND, "no process or context %s in this sandbox", cid);
	}
	return rc;
}

int
os_cmd_status(struct backend *b, struct call *c, const struct ep *ep, const char *cid,
    struct cmd_status *out, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .ep = ep };
	const char *path = arena_printf(c->a, "/command/status/%s", seg(c, cid));
	const char *what = arena_printf(c->a, "getting the status of process %s", cid);
	const struct json *j;
	int64_t code;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path == NULL || what == NULL)
		return OOM(e);
	if ((r.url = os_ep_url(b, c, ep, path, e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 200, what, &j, NULL, e)) != 0) {
		if (rc == ERR_NOTFOUND)
			return rest_notfound(e,
			    arena_printf(c->a, "no process %s in this sandbox", cid),
			    "list background processes with process_list");
		return rc;
	}
	if (j == NULL)
		return err_set(e, ERR_PROTO, "%s: the answer is empty", what);
	out->running = json_truthy(json_get(j, "running"));
	if (!out->running && json_int(json_get(j, "exit_code"), &code) && code >= 0) {
		out->has_exit = true;
		out->exit_code = (int)code;
	}
	out->error = json_get_str(j, "error");
	out->content = json_get_str(j, "content");
	return 0;
}

/* Unique enough for a temporary file name inside one sandbox. */
static void
tmp_name(char *out, size_t n, const char *prefix)
{
	snprintf(out, n, "/tmp/.sandbox-mcp-%s-%" PRIx64 "%04x", prefix, time_wall_ms(),
	    atomic_fetch_add(&os_seq, 1) & 0xffff);
}

static const char *
exec_body(const struct exec_req *req, const char *command, struct call *c, size_t *len,
    struct err *e)
{
	struct buf bf = { 0 };
	struct jsonw w;

	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "command", command);
	if (req->cwd != NULL && *req->cwd)
		jsonw_kstr(&w, "cwd", req->cwd);
	jsonw_kbool(&w, "background", req->background);
	if (req->timeout_ms > 0)
		jsonw_kint(&w, "timeout", req->timeout_ms);
	if (req->nenv > 0) {
		jsonw_key(&w, "envs");
		jsonw_obj_begin(&w);
		for (size_t i = 0; i < req->nenv; i++)
			jsonw_kstr(&w, req->env[i].key, req->env[i].value);
		jsonw_obj_end(&w);
	}
	jsonw_obj_end(&w);
	return os_jsonw_done(&w, &bf, c, len, e);
}

static int
signal_of(const char *tb)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "killed", 9 },
		{ "terminated", 15 },
		{ "interrupt", 2 },
		{ "hangup", 1 },
		{ "aborted", 6 },
		{ "segmentation fault", 11 },
		{ "broken pipe", 13 },
		{ "quit", 3 },
		{ "alarm clock", 14 },
		{ "bus error", 7 },
	};

	for (size_t i = 0; tb != NULL && i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strstr(tb, sigs[i].name) != NULL)
			return sigs[i].sig;
	return 0;
}

/* The final event of a command into res (§0.5). */
static int
exec_outcome(struct os_stream *st, const struct exec_req *req, int64_t elapsed,
    struct exec_result *res, struct call *c, struct err *e)
{
	int64_t code;
	int sig;

	if (st->ok) {
		res->exited = true;
		res->exit_code = 0;
		return 0;
	}
	if (!str_to_i64(str_from(st->evalue), &code) || code < -1 || code > INT32_MAX)
		return err_set(e, ERR_BACKEND, "the command could not start: %s%s%s", st->evalue,
		    st->tb.len ? " -- " : "", st->tb.len ? st->tb.p : "");
	if (code >= 0) {
		res->exited = true;
		res->exit_code = (int)code;
		return 0;
	}
	{
		sig = signal_of(st->tb.p);
		res->exited = false;
		res->exit_code = sig ? 128 + sig : -1;
		res->timed_out = req->timeout_ms > 0 && elapsed >= req->timeout_ms * 9 / 10;
		res->note = res->timed_out
		    ? arena_printf(c->a, "killed after the %" PRId64 " ms timeout", req->timeout_ms)
		    : arena_printf(c->a, "stopped by a signal (%s)",
		          st->tb.p != NULL ? st->tb.p : "unknown");
		return 0;
	}
}

/* After a broken stream: the command may still run. Ask execd; if it has finished, report
 * its exit code with a note, else stop it. */
static int
exec_recover(struct backend *b, struct call *c, const struct ep *ep, struct os_stream *st,
    struct exec_result *res, int rc, struct err *e)
{
	struct cmd_status cs;
	struct err se = { 0 };

	if (os_cmd_status(b, c, ep, st->id, &cs, &se) == 0 && !cs.running) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", e->msg);
		err_clear(e);
		res->exited = cs.has_exit;
		res->exit_code = cs.has_exit ? cs.exit_code : -1;
		res->note = arena_printf(c->a,
		    "the output stream from execd broke (%s); output "
		    "may be incomplete",
		    why);
		return 0;
	}
	err_clear(&se);
	if (os_interrupt(b, c, ep, "/command", st->id, true, &se) == 0)
		err_prefix(e,
		    "the command (process %s) was stopped because its output stream "
		    "broke: ",
		    st->id);
	else
		err_prefix(e,
		    "the command (process %s) may still be running; its output stream "
		    "broke: ",
		    st->id);
	log_scrub(e->msg);
	return rc;
}

int
os_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn, void *arg,
    struct exec_result *res, struct call *c, struct err *e)
{
	int64_t t0 = time_mono_ms(), local_dl = DEADLINE_NONE, dl;
	const char *command = req->command, *body, *url;
	struct os_stream st;
	struct ep ep;
	size_t len;
	int rc, hs;

	memset(res, 0, sizeof(*res));
	if (req->command == NULL || *req->command == '\0')
		return err_set(e, ERR_INVAL, "the command is empty");
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	if (req->stdin_data != NULL) {
		/* execd gives commands /dev/null as stdin: upload it and let the command open
		 * the file as fd 0 and unlink it at once. */
		char tmp[96];

		tmp_name(tmp, sizeof(tmp), "stdin");
		if ((rc = os_upload(b, c, &ep, tmp, req->stdin_data, req->stdin_len, 0600, e)) !=
		    0) {
			err_prefix(e, "uploading stdin: ");
			return rc;
		}
		/* $TMPDIR is the fallback for platforms whose files API and commands see /tmp
		 * differently (the test fake). */
		command = arena_printf(c->a,
		    "__sbx_in='%s'; [ -e \"$__sbx_in\" ] || "
		    "__sbx_in=\"${TMPDIR:-/tmp}/%s\"; exec 0<\"$__sbx_in\" || exit 126; "
		    "rm -f \"$__sbx_in\"; unset __sbx_in\n%s",
		    tmp, tmp + 5, req->command);
		if (command == NULL)
			return OOM(e);
	}
	if ((body = exec_body(req, command, c, &len, e)) == NULL)
		return e->code;
	if ((url = os_ep_url(b, c, &ep, "/command", e)) == NULL)
		return e->code;
	if (req->timeout_ms > 0 && !req->background)
		local_dl = deadline_in_ms(req->timeout_ms + OS_TIMEOUT_GRACE_MS);
	dl = deadline_min(call_deadline(c), local_dl);
	if (req->background)
		dl = 0; /* a plain request: the call's deadline and --timeout-s */
	os_st_init(&st, c, MODE_CMD, fn, arg);
	st.background = req->background;
	rc = os_st_run(b, c, &st, &ep, url, body, len, dl, "running a command", &hs, e);
	if (rc == 0) {
		if (req->background && !st.ok) {
			rc = exec_outcome(&st, req, 0, res, c, e); /* it did not start */
		} else if (req->background) {
			res->pid = arena_strdup(c->a, st.id);
			if (res->pid == NULL)
				rc = OOM(e);
			else
				os_bg_add(b, id, st.id, req->command);
		} else {
			rc = exec_outcome(&st, req, time_mono_ms() - t0, res, c, e);
		}
	} else if (hs != 0 || !st.have_id) {
		if (hs == 502 || hs == 504 || hs == 404 || rc == ERR_IO || rc == ERR_TIMEOUT) {
			os_ep_forget(b, id, OPENSANDBOX_EXECD_PORT);
			rc = os_paused_hint(b, c, id, rc, e);
		}
	} else if (rc == ERR_CANCELLED ||
	    (rc == ERR_TIMEOUT && deadline_passed(call_deadline(c)))) {
		/* §0.7: closing the stream does not stop the command. */
		struct err de = { 0 };
		bool stopped = os_interrupt(b, c, &ep, "/command", st.id, true, &de) == 0;

		err_clear(e);
		err_set(e, rc, "exec %s; the command (process %s) %s",
		    rc == ERR_CANCELLED ? "was cancelled" : "did not finish before the deadline",
		    st.id, stopped ? "was stopped" : "could not be stopped");
	} else if (rc == ERR_TIMEOUT && req->timeout_ms > 0 && deadline_passed(local_dl)) {
		struct err de = { 0 };

		(void)os_interrupt(b, c, &ep, "/command", st.id, true, &de);
		err_clear(e);
		rc = 0;
		res->exited = false;
		res->timed_out = true;
		res->note = arena_printf(c->a, "killed after the %" PRId64 " ms timeout",
		    req->timeout_ms);
	} else {
		rc = exec_recover(b, c, &ep, &st, res, rc, e);
	}
	os_st_fini(&st);
	return rc;
}
