/* rpc.c -- stdio line framing, the locked stdout writer and the worker pool. */
#include "mcp/rpc.h"
#include "util/mem.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RPC_READ_CHUNK (64 * 1024)

void
rpc_reader_init(struct rpc_reader *r, int fd, int wake_fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->wake_fd = wake_fd;
	/* One chunk of slack over the cap: a line of exactly RPC_LINE_MAX still fits. */
	buf_init(&r->in, RPC_LINE_MAX + RPC_READ_CHUNK + 1);
}

void
rpc_reader_fini(struct rpc_reader *r)
{
	buf_fini(&r->in);
}

/* Reads more input; returns 1 data, 0 EOF, -1 error, -2 woken. */
static int
rpc_fill(struct rpc_reader *r)
{
	struct pollfd pfd[2];
	ssize_t n;
	int npfd = 1;

	if (buf_reserve(&r->in, RPC_READ_CHUNK, NULL) != 0)
		return -1;
	pfd[0] = (struct pollfd){ .fd = r->fd, .events = POLLIN };
	if (r->wake_fd >= 0)
		pfd[npfd++] = (struct pollfd){ .fd = r->wake_fd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)npfd, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (npfd > 1 && (pfd[1].revents & POLLIN))
			return -2;
		if (pfd[0].revents == 0)
			continue;
		n = read(r->fd, r->in.p + r->in.len, RPC_READ_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		r->in.len += (size_t)n;
		r->in.p[r->in.len] = '\0';
		return 1;
	}
}

enum rpc_read_status
rpc_reader_next(struct rpc_reader *r, const char **line, size_t *len)
{
	char *nl;
	int rc;

	/* Drop the line handed out by the previous call. */
	if (r->consumed) {
		buf_consume(&r->in, r->consumed);
		r->consumed = 0;
		r->scan = 0;
	}
	for (;;) {
		nl = r->scan < r->in.len ? memchr(r->in.p + r->scan, '\n', r->in.len - r->scan)
		                         : NULL;
		if (nl != NULL) {
			size_t n = (size_t)(nl - r->in.p);

			r->scan = 0;
			if (r->skipping) {
				r->skipping = false;
				buf_consume(&r->in, n + 1);
				return RPC_LINE_TOOLONG;
			}
			if (n > RPC_LINE_MAX) {
				buf_consume(&r->in, n + 1);
				return RPC_LINE_TOOLONG;
			}
			*line = r->in.p;
			*len = n;
			if (n && r->in.p[n - 1] == '\r')
				(*len)--;
			r->in.p[*len] = '\0';
			r->consumed = n + 1;
			return RPC_LINE;
		}
		r->scan = r->in.len;
		if (r->skipping || r->in.len > RPC_LINE_MAX) {
			/* Over the cap with no newline: forget it and skip to the next one. */
			r->skipping = true;
			buf_reset(&r->in);
			r->scan = 0;
		}
		if (r->eof) {
			if (r->skipping) {
				r->skipping = false;
				return RPC_LINE_TOOLONG;
			}
			if (r->in.len > 0) {
				*line = r->in.p;
				*len = r->in.len;
				r->consumed = r->in.len;
				return RPC_LINE;
			}
			return RPC_EOF;
		}
		rc = rpc_fill(r);
		if (rc == 0)
			r->eof = true;
		else if (rc == -1)
			return RPC_READ_ERROR;
		else if (rc == -2)
			return RPC_WAKE;
	}
}

static pthread_mutex_t rpc_out_lock = PTHREAD_MUTEX_INITIALIZER;
static int rpc_out_fd = 1;
static bool rpc_out_broken;

void
rpc_out_init(int fd)
{
	rpc_out_fd = fd;
}

static int
rpc_write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(rpc_out_fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = rpc_out_fd, .events = POLLOUT };

			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
rpc_send(const char *p, size_t n)
{
	int rc = -1;

	pthread_mutex_lock(&rpc_out_lock);
	if (!rpc_out_broken) {
		rc = rpc_write_all(p, n);
		if (rc == 0)
			rc = rpc_write_all("\n", 1);
		if (rc != 0)
			rpc_out_broken = true;
	}
	pthread_mutex_unlock(&rpc_out_lock);
	return rc;
}

/* Worker pool ------------------------------------------------------------------- */

struct rpc_job {
	rpc_job_fn fn;
	void *arg;
};

struct rpc_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* work arrived or stopping */
	pthread_cond_t idle_cond; /* a job finished */
	struct rpc_job queue[RPC_QUEUE_MAX];
	int head, count;
	int workers, idle, running, max_workers;
	bool stopping;
	pthread_t threads[RPC_WORKERS_MAX];
};

static void *
rpc_worker(void *arg)
{
	struct rpc_pool *p = arg;
	struct rpc_job job;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->count == 0 && !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->cond, &p->lock);
			p->idle--;
		}
		if (p->count == 0 && p->stopping)
			break;
		job = p->queue[p->head];
		p->head = (p->head + 1) % RPC_QUEUE_MAX;
		p->count--;
		p->running++;
		pthread_mutex_unlock(&p->lock);
		job.fn(job.arg);
		pthread_mutex_lock(&p->lock);
		p->running--;
		pthread_cond_broadcast(&p->idle_cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct rpc_pool *
rpc_pool_new(int max_workers)
{
	struct rpc_pool *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_cond_init(&p->idle_cond, NULL);
	p->max_workers = max_workers > RPC_WORKERS_MAX ? RPC_WORKERS_MAX
	    : max_workers < 1                          ? 1
	                                               : max_workers;
	return p;
}

int
rpc_pool_submit(struct rpc_pool *p, rpc_job_fn fn, void *arg)
{
	pthread_attr_t attr;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (p->count == RPC_QUEUE_MAX || p->stopping) {
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	p->queue[(p->head + p->count) % RPC_QUEUE_MAX] = (struct rpc_job){ fn, arg };
	p->count++;
	/* Start a thread when every existing one is busy, so a long call never delays others. */
	if (p->idle < p->count && p->workers < p->max_workers) {
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 1024 * 1024);
		if (pthread_create(&p->threads[p->workers], &attr, rpc_worker, p) == 0)
			p->workers++;
		else if (p->workers == 0)
			rc = -1;
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
		p->count--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int
rpc_pool_busy(struct rpc_pool *p)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->count + p->running;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
rpc_pool_free(struct rpc_pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->workers; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->idle_cond);
	free(p);
}
