/*
 * exec.c -- exec on E2B: a foreground command is one Start stream (re-attached with
 * Connect when it breaks, killed when it is cancelled or times out, since closing the
 * stream does not stop it); a background one goes to the envd/ process table.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "util/log.h"
#include "util/time.h"

#define KILL_GRACE_MS 5000 /* bound of the SIGKILL sent after a cancel or timeout */

struct exec_run {
	struct backend *b;
	const struct envd_target *t;
	const struct exec_req *req;
	exec_event_fn fn;
	void *arg;
	struct exec_result *res;
	struct call *c;
	uint32_t pid;
	bool started, ended, stopped;
	struct envd_event end;
};

static void
kill_quietly(const struct envd_target *t, uint32_t pid, struct arena *a)
{
	struct call kc = { a, NULL, deadline_in_ms(KILL_GRACE_MS) };
	struct err ke = { 0 };

	/* Closing the stream does not stop the process (BRIEF §11.4): kill it. */
	if (envd_signal(t, pid, 9, &kc, &ke) && ke.code != ERR_NOTFOUND)
		log_msg(LOG_WARN, "e2b", "could not kill process %u in sandbox %s: %s", pid,
		    t->sandbox_id, ke.msg);
}

static int
exec_emit(struct exec_run *x, enum exec_event_type type, const char *data, size_t len,
    struct err *e)
{
	struct exec_event ev = { type, data, len, x->res->pid };

	if (x->fn == NULL || x->fn(x->arg, &ev) == 0)
		return 0;
	x->stopped = true;
	return err_set(e, ERR_CANCELLED, "the command was stopped");
}

/* Feeds the request's stdin after the start event, then closes it. */
static int
exec_stdin(struct exec_run *x, struct err *e)
{
	const struct exec_req *req = x->req;
	int rc;

	if (req->stdin_data == NULL)
		return 0;
	rc = req->stdin_len
	    ? envd_send_input(x->t, x->pid, req->stdin_data, req->stdin_len, x->c, e)
	    : 0;
	if (rc == 0 && !req->background)
		rc = envd_close_stdin(x->t, x->pid, x->c, e);
	return rc;
}

static int
exec_event(void *arg, const struct envd_event *ev, struct err *e)
{
	struct exec_run *x = arg;
	int rc;

	switch (ev->type) {
	case ENVD_EV_START:
		if (x->started)
			return 0; /* a re-attach repeats start{pid} */
		x->started = true;
		x->pid = ev->pid;
		x->res->pid = arena_printf(x->c->a, "%u", ev->pid);
		if ((rc = exec_emit(x, EXEC_EV_START, NULL, 0, e)) != 0)
			return rc;
		return exec_stdin(x, e);
	case ENVD_EV_STDOUT:
	case ENVD_EV_PTY:
		return exec_emit(x, EXEC_EV_STDOUT, ev->data, ev->len, e);
	case ENVD_EV_STDERR:
		return exec_emit(x, EXEC_EV_STDERR, ev->data, ev->len, e);
	case ENVD_EV_END:
		x->ended = true;
		x->end = *ev;
		return 0;
	default:
		return 0;
	}
}

static bool
transient(int rc)
{
	return rc == ERR_IO || rc == ERR_PROTO || rc == ERR_TLS;
}

static int
exec_foreground(struct exec_run *x, const struct envd_start_req *rq, struct err *e)
{
	const struct exec_req *req = x->req;
	struct exec_result *res = x->res;
	int64_t t0 = time_mono_ms();
	int rc, tries = 0;

	rc = envd_start(x->t, rq, exec_event, x, x->c, e);
	/* A stream that broke while the command runs is re-attached (Connect by pid). */
	while (rc && transient(rc) && x->started && !x->ended && tries++ < 3) {
		log_msg(LOG_INFO, "e2b", "re-attaching to process %u in sandbox %s after: %s",
		    x->pid, x->t->sandbox_id, e->msg);
		err_clear(e);
		rc = envd_connect(x->t, x->pid, exec_event, x, x->c, e);
	}
	if (rc && x->started && !x->ended)
		kill_quietly(x->t, x->pid, x->c->a);
	if (rc == ERR_TIMEOUT && req->timeout_ms > 0 &&
	    time_mono_ms() - t0 >= req->timeout_ms - 100) {
		err_clear(e);
		res->timed_out = true;
		res->exited = false;
		res->note = arena_printf(x->c->a, "killed after the %lld ms timeout",
		    (long long)req->timeout_ms);
		return 0;
	}
	if (rc != 0)
		return rc;
	if (!x->ended)
		return err_set(e, ERR_PROTO,
		    "envd of sandbox %s ended the command stream without "
		    "an exit status",
		    x->t->sandbox_id);
	res->exited = envd_exit_status(&x->end, &res->exit_code);
	if (!x->end.exited)
		res->note = arena_printf(x->c->a, "the process ended by %s", x->end.status);
	return 0;
}

int
e2b_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn, void *arg,
    struct exec_result *res, struct call *c, struct err *e)
{
	struct envd_target t;
	struct envd_start_req rq = { 0 };
	struct exec_run x = { b, &t, req, fn, arg, res, c, 0, false, false, false, { 0 } };
	int rc;

	memset(res, 0, sizeof(*res));
	if (req->command == NULL || *req->command == '\0')
		return err_set(e, ERR_INVAL, "the command is empty");
	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	rq.command = req->command;
	rq.cwd = req->cwd;
	rq.env = req->env;
	rq.nenv = req->nenv;
	/* Foreground commands see EOF on stdin unless the agent gave input (BRIEF §11.1);
	 * background ones keep it open for process_send_stdin. */
	rq.stdin_open = req->background || req->stdin_data != NULL;
	if (!req->background) {
		rq.timeout_ms = req->timeout_ms;
		return exec_foreground(&x, &rq, e);
	}
	if ((rc = envd_procs_start(b->procs, &t, &rq, &x.pid, c, e)) != 0)
		return rc;
	res->pid = arena_printf(c->a, "%u", x.pid);
	res->exited = false;
	x.started = true;
	if ((rc = exec_emit(&x, EXEC_EV_START, NULL, 0, e)) != 0)
		return rc;
	return exec_stdin(&x, e);
}
