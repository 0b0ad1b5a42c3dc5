/*
 * process.c -- background processes on E2B: envd's process list plus the ones this
 * session watched end, their output through the envd/ process table, stdin and signals.
 * Process ids are envd's pids, as decimal strings.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "util/str.h"

static int
parse_pid(const char *s, uint32_t *pid, struct err *e)
{
	int64_t v;

	if (s == NULL || !str_to_i64(str_from(s), &v) || v <= 0 || v > UINT32_MAX)
		return err_set(e, ERR_INVAL,
		    "process id '%s' is not a number; take it from exec "
		    "(background) or process_list",
		    s ? s : "");
	*pid = (uint32_t)v;
	return 0;
}

int
e2b_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n, struct call *c,
    struct err *e)
{
	struct envd_target t;
	struct envd_proc *ps;
	struct proc_info *ended, *all;
	size_t np, ne;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0 ||
	    (rc = envd_list(&t, &ps, &np, c, e)) != 0)
		return rc;
	if (envd_procs_ended(b->procs, t.sandbox_id, &ended, &ne, c->a) != 0)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	all = (np + ne) ? arena_zalloc(c->a, (np + ne) * sizeof(*all)) : NULL;
	if (np + ne && all == NULL)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	for (size_t i = 0; i < np; i++) {
		all[i].pid = arena_printf(c->a, "%u", ps[i].pid);
		all[i].command = ps[i].command;
		all[i].running = true;
	}
	for (size_t i = 0; i < ne; i++)
		all[np + i] = ended[i];
	*out = all;
	*n = np + ne;
	return 0;
}

int
e2b_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	struct envd_target t;
	uint32_t p;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_pid(pid, &p, e)) != 0 || (rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	return envd_procs_output(b->procs, &t, p, offset, wait_ms, max_bytes, out, c, e);
}

int
e2b_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data, size_t len,
    bool close_stdin, struct call *c, struct err *e)
{
	struct envd_target t;
	uint32_t p;
	int rc;

	if ((rc = parse_pid(pid, &p, e)) != 0 || (rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	if (len && (rc = envd_send_input(&t, p, data, len, c, e)) != 0)
		return rc;
	return close_stdin ? envd_close_stdin(&t, p, c, e) : 0;
}

int
e2b_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e)
{
	struct envd_target t;
	uint32_t p;
	int rc;

	if ((rc = parse_pid(pid, &p, e)) != 0 || (rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	rc = envd_signal(&t, p, signo > 0 ? signo : 15, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		rc = err_set(e, ERR_NOTFOUND, "process %s is not running in sandbox %s", pid,
		    t.sandbox_id);
	}
	return rc;
}
