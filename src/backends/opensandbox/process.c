/*
 * process.c -- background commands (§0.8, §3.2): the ones this process started, their
 * output from execd's logs, and stopping them.
 *
 * Choices:
 *   - process_list lists the background commands this process started (execd has no list).
 */
#include "backends/opensandbox/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "backends/common/wait.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#define OS_BG_MAX            256 /* background commands remembered for process_list */
#define OS_PROC_WAIT_POLL_MS 250

void
os_bg_add(struct backend *b, const char *sid, const char *pid, const char *command)
{
	struct os_bg *g = xcalloc(1, sizeof(*g)), **pp;

	g->sid = xstrdup(sid);
	g->pid = xstrdup(pid);
	g->command = xstrndup(command, 1024);
	pthread_mutex_lock(&b->mu);
	g->next = b->bgs;
	b->bgs = g;
	if (++b->nbg > OS_BG_MAX) { /* forget the oldest */
		for (pp = &b->bgs; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		free((*pp)->sid);
		free((*pp)->pid);
		free((*pp)->command);
		free(*pp);
		*pp = NULL;
		b->nbg--;
	}
	pthread_mutex_unlock(&b->mu);
}

int
os_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n, struct call *c,
    struct err *e)
{
	struct proc_info *pi;
	const char **pids, **cmds;
	size_t cnt = 0, k = 0;
	struct os_bg *g;
	struct ep ep;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&b->mu);
	for (g = b->bgs; g != NULL; g = g->next)
		cnt += strcmp(g->sid, id) == 0;
	pids = arena_alloc(c->a, (cnt + 1) * sizeof(*pids));
	cmds = arena_alloc(c->a, (cnt + 1) * sizeof(*cmds));
	for (g = b->bgs; g != NULL && pids != NULL && cmds != NULL; g = g->next)
		if (strcmp(g->sid, id) == 0 && k < cnt) {
			pids[k] = arena_strdup(c->a, g->pid);
			cmds[k++] = arena_strdup(c->a, g->command);
		}
	pthread_mutex_unlock(&b->mu);
	pi = arena_zalloc(c->a, (cnt + 1) * sizeof(*pi));
	if (pids == NULL || cmds == NULL || pi == NULL)
		return OOM(e);
	if (k == 0)
		return 0;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	for (size_t i = 0; i < k; i++) {
		struct cmd_status cs;
		struct err se = { 0 };

		if (pids[i] == NULL || cmds[i] == NULL)
			return OOM(e);
		if ((rc = os_cmd_status(b, c, &ep, pids[i], &cs, &se)) != 0) {
			if (rc == ERR_NOTFOUND)
				continue; /* execd restarted or forgot it */
			return err_set(e, rc, "%s", se.msg);
		}
		pi[*n] = (struct proc_info){ .pid = pids[i],
			.command = cmds[i],
			.running = cs.running,
			.has_exit = cs.has_exit,
			.exit_code = cs.exit_code };
		(*n)++;
	}
	*out = pi;
	return 0;
}

struct logs_rd {
	struct buf *out;
	size_t max, got;
	bool cut;
};

static int
logs_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct logs_rd *lr = arg;
	size_t take = lr->max - lr->got < n ? lr->max - lr->got : n;

	if (take > 0 && buf_append(lr->out, p, take, e) != 0)
		return e->code;
	lr->got += take;
	if (take < n) {
		lr->cut = true;
		return HTTP_STOP;
	}
	return 0;
}

/* GET /command/{pid}/logs?cursor= : bytes from offset, at most max. */
static int
os_logs(struct backend *b, struct call *c, const struct ep *ep, const char *pid, uint64_t offset,
    size_t max, struct proc_output *out, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .ep = ep, .on_body = logs_body };
	struct logs_rd lr = { .out = &out->data, .max = max };
	const char *path = arena_printf(c->a, "/command/%s/logs?cursor=%" PRIu64, seg(c, pid),
	    offset);
	struct http_response rs;
	const char *tail;
	int64_t end;
	size_t before = out->data.len;
	int rc;

	if (path == NULL)
		return OOM(e);
	if ((r.url = os_ep_url(b, c, ep, path, e)) == NULL)
		return e->code;
	r.arg = &lr;
	rc = os_do(b, c, &r, "reading process output", &rs, e);
	if (rc != 0) {
		http_response_fini(&rs);
		return rc;
	}
	if (rs.status != 200) {
		/* the body went to logs_body: show it from out->data and take it back */
		rc = rest_status_err(&os_peers[OS_EXECD],
		    arena_printf(c->a,
		        "reading the output "
		        "of process %s",
		        pid),
		    &rs, out->data.p + before, out->data.len - before, c->a, e);
		out->data.len = before;
		if (out->data.p != NULL)
			out->data.p[before] = '\0';
		http_response_fini(&rs);
		return rc;
	}
	tail = http_response_header(&rs, "EXECD-COMMANDS-TAIL-CURSOR");
	if (!lr.cut && tail != NULL && str_to_i64(str_trim(str_from(tail)), &end) &&
	    (uint64_t)end >= offset + lr.got)
		out->next_offset = (uint64_t)end;
	else
		out->next_offset = offset + lr.got;
	http_response_fini(&rs);
	return 0;
}

int
os_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset, int64_t wait_ms,
    size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	int64_t until = deadline_in_ms(wait_ms > 0 ? wait_ms : 0);
	struct cmd_status cs;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&out->data, 0);
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	for (;;) {
		/* Status first: when it says "finished", the logs read next are complete. */
		if ((rc = os_cmd_status(b, c, &ep, pid, &cs, e)) != 0)
			return rc;
		rc = os_logs(b, c, &ep, pid, offset, max_bytes, out, e);
		if (rc == ERR_INVAL) {
			err_clear(e);
			return err_set(e, ERR_UNSUPPORTED,
			    "process %s ran in the foreground; its "
			    "output was returned by exec and execd keeps no log of it",
			    pid);
		}
		if (rc != 0)
			return rc;
		out->running = cs.running;
		out->has_exit = cs.has_exit;
		out->exit_code = cs.exit_code;
		if (out->data.len > 0 || !cs.running || wait_ms <= 0 || deadline_passed(until))
			return 0;
		{
			int left = deadline_left_ms(until);

			if ((rc = wait_sleep(c,
			         left < OS_PROC_WAIT_POLL_MS ? left : OS_PROC_WAIT_POLL_MS,
			         "waiting for process output", e)) != 0) {
				if (rc ==
				    ERR_TIMEOUT) { /* the call's deadline: return what we have */
					err_clear(e);
					return 0;
				}
				return rc;
			}
		}
	}
}

int
os_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e)
{
	struct ep ep;
	int rc;

	(void)signo; /* execd sends SIGTERM, then SIGKILL after 3 s (§3.2) */
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	return os_interrupt(b, c, &ep, "/command", pid, false, e);
}
