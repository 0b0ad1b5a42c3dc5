/*
 * procs.c -- the background-process table (struct envd_procs): one reader thread per
 * process keeps its Start or Connect stream open, re-attaches with Connect when the
 * stream breaks, and keeps the tail of the output (ENVD_BG_KEEP_BYTES) for
 * process_output. At most BG_MAX processes are watched; ended ones make room.
 */
#include "backends/e2b/envd/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/common/wait.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#define BG_MAX            64 /* background processes watched at once */
#define BG_REATTACH_TRIES 5

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
	struct arena *a; /* the target copy lives here */
	struct envd_target t;
	char *sandbox_id;
	uint32_t pid;
	bool attach;              /* watch an existing pid with Connect */
	struct envd_start_req rq; /* copy, for Start */
	struct cancel *stop;
	pthread_t th;
	bool th_started;
	enum bg_state state;
	struct err failure;
	struct buf out; /* output tail */
	uint64_t base;  /* offset of out.p[0] */
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
	struct envd_procs *ps = xcalloc(1, sizeof(*ps));

	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cond, NULL);
	return ps;
}

static void
bg_free(struct bgproc *p)
{
	if (p == NULL)
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

	if (ps == NULL)
		return;
	pthread_mutex_lock(&ps->mu);
	for (p = ps->head; p != NULL; p = p->next)
		cancel_fire(p->stop);
	pthread_mutex_unlock(&ps->mu);
	for (p = ps->head; p != NULL; p = next) {
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
		hx = arena_alloc(a, t->nextra * sizeof(*hx));
		for (size_t i = 0; hx != NULL && i < t->nextra; i++) {
			hx[i].name = adup(a, t->extra[i].name);
			hx[i].value = adup(a, t->extra[i].value);
		}
	}
	p->t.extra = hx;
	if (rq != NULL) {
		struct kv *env = rq->nenv ? arena_alloc(a, rq->nenv * sizeof(*env)) : NULL;

		p->rq = *rq;
		p->command = adup(a, rq->command);
		p->rq.command = p->command;
		p->rq.cwd = adup(a, rq->cwd);
		p->rq.tag = adup(a, rq->tag);
		p->rq.argv = NULL;
		p->rq.argc = 0;
		for (size_t i = 0; env != NULL && i < rq->nenv; i++) {
			env[i].key = adup(a, rq->env[i].key);
			env[i].value = adup(a, rq->env[i].value ? rq->env[i].value : "");
		}
		p->rq.env = env;
	}
	if (p->t.base_url == NULL || (t->nextra && hx == NULL))
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
	if (why != NULL)
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
				err_set(&e, ERR_PROTO,
				    "envd ended the stream of process %u without "
				    "an end event",
				    p->pid);
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
		if (wait_sleep_until(p->stop, DEADLINE_NONE, 250 * tries, "re-attaching", NULL) !=
		    0)
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

		for (pp = &ps->head; *pp != NULL; pp = &(*pp)->next)
			if (((*pp)->state == BG_ENDED || (*pp)->state == BG_FAILED) &&
			    (oldest == NULL || (*pp)->ended_at < (*oldest)->ended_at))
				oldest = pp;
		if (oldest == NULL)
			return err_set(e, ERR_TOOBIG,
			    "%d background processes are being watched "
			    "already; kill some with process_kill first",
			    BG_MAX);
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
	struct bgproc *p = xcalloc(1, sizeof(*p));

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
			return err_set(e, ERR_TIMEOUT,
			    "timed out waiting for envd to start the "
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

	if (rc != 0) {
		bg_free(p);
		return rc;
	}
	pthread_mutex_lock(&ps->mu);
	rc = bg_insert(ps, p, e);
	if (rc != 0) {
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
	for (struct bgproc *p = ps->head; p != NULL; p = p->next)
		if (p->pid == pid && p->state != BG_FAILED &&
		    strcmp(p->sandbox_id, sandbox_id ? sandbox_id : "") == 0)
			return p;
	return NULL;
}

/* A FAILED entry of that process (a stream given up on), or NULL. Called locked. */
static struct bgproc *
bg_find_lost(struct envd_procs *ps, const char *sandbox_id, uint32_t pid)
{
	for (struct bgproc *p = ps->head; p != NULL; p = p->next)
		if (p->pid == pid && p->state == BG_FAILED &&
		    strcmp(p->sandbox_id, sandbox_id ? sandbox_id : "") == 0)
			return p;
	return NULL;
}

/* Unlinks an entry. Called locked. */
static void
bg_remove(struct envd_procs *ps, struct bgproc *victim)
{
	for (struct bgproc **pp = &ps->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			ps->n--;
			break;
		}
	}
}

int
envd_procs_output(struct envd_procs *ps, const struct envd_target *t, uint32_t pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	struct bgproc *p;
	int64_t until = wait_ms > 0 ? deadline_min(deadline_in_ms(wait_ms), call_deadline(c)) : 0;
	int rc = 0;

	pthread_mutex_lock(&ps->mu);
	p = bg_find(ps, t->sandbox_id, pid);
	if (p == NULL) {
		/* Not ours, or its stream was lost: attach with Connect. Offsets continue
		 * where a lost stream left them. */
		struct bgproc *lost = bg_find_lost(ps, t->sandbox_id, pid);

		p = bg_new(ps);
		p->attach = true;
		p->pid = pid;
		if (lost != NULL) {
			p->base = lost->base + lost->out.len;
			bg_remove(ps, lost);
			if (lost->th_started)
				pthread_join(lost->th, NULL);
			bg_free(lost);
		}
		rc = bg_copy(p, t, NULL, e);
		if (rc == 0)
			rc = bg_insert(ps, p, e);
		if (rc != 0) {
			pthread_mutex_unlock(&ps->mu);
			bg_free(p);
			return rc;
		}
		if (pthread_create(&p->th, NULL, bg_main, p) == 0)
			p->th_started = true;
		else
			p->state = BG_FAILED;
		rc = bg_wait_started(ps, p, c, e);
		if (rc != 0) {
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
					rc = err_set(e, ERR_NOTFOUND,
					    "process %u is not running in "
					    "sandbox %s; list them with process_list",
					    pid, t->sandbox_id ? t->sandbox_id : "");
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
	if (n)
		rc = buf_append(&out->data, p->out.p + (from - p->base), n, e);
	out->next_offset = from + n;
	out->running = p->state == BG_RUNNING || p->state == BG_CONNECTING;
	out->has_exit = p->state == BG_ENDED && p->has_exit;
	out->exit_code = p->exit_code;
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

int
envd_procs_ended(struct envd_procs *ps, const char *sandbox_id, struct proc_info **out, size_t *n,
    struct arena *a)
{
	size_t k = 0, cap = 0;
	struct proc_info *items = NULL;

	pthread_mutex_lock(&ps->mu);
	for (struct bgproc *p = ps->head; p != NULL; p = p->next)
		if (p->state == BG_ENDED &&
		    strcmp(p->sandbox_id, sandbox_id ? sandbox_id : "") == 0)
			cap++;
	if (cap)
		items = arena_zalloc(a, cap * sizeof(*items));
	for (struct bgproc *p = ps->head; items != NULL && p != NULL; p = p->next) {
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
	return cap && items == NULL ? ERR_TOOBIG : 0;
}
