/*
 * rpc.h -- JSON-RPC over stdio: line framing, the one stdout writer, a worker pool.
 *
 * Framing: one message per line (MCP stdio transport). rpc_reader caps a line at
 *          RPC_LINE_MAX so a client cannot make us buffer without limit; a longer line is
 *          reported once as RPC_LINE_TOOLONG and skipped to its newline.
 * Writer:  rpc_send() writes one whole line under one mutex, so lines from concurrent
 *          workers never interleave. It is the only code that writes to stdout.
 * Pool:    rpc_pool runs jobs on at most RPC_WORKERS_MAX threads, started on demand;
 *          a full queue is reported to the caller so it can answer "busy".
 * Threads: the reader belongs to the main thread; rpc_send and rpc_pool_submit are
 *          thread-safe.
 */
#ifndef MCP_RPC_H
#define MCP_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define RPC_LINE_MAX    (16u * 1024 * 1024)
#define RPC_WORKERS_MAX 32
#define RPC_QUEUE_MAX   256

enum rpc_read_status {
	RPC_LINE,         /* line and len hold one line without its newline */
	RPC_LINE_TOOLONG, /* a line over RPC_LINE_MAX was skipped */
	RPC_EOF,          /* input closed */
	RPC_WAKE,         /* the wake fd became readable (shutdown signal) */
	RPC_READ_ERROR,
};

struct rpc_reader {
	int fd;
	int wake_fd; /* -1 or a descriptor that interrupts the wait */
	struct buf in;
	size_t scan;     /* bytes of `in` already searched for '\n' */
	size_t consumed; /* bytes of the line handed out last, dropped on the next call */
	bool skipping;   /* inside an over-long line */
	bool eof;
};

void rpc_reader_init(struct rpc_reader *r, int fd, int wake_fd);
void rpc_reader_fini(struct rpc_reader *r);
/* The returned line stays valid until the next call. A final line without '\n' at EOF
 * is returned as a line. */
enum rpc_read_status rpc_reader_next(struct rpc_reader *r, const char **line, size_t *len);

/* Sets the output descriptor (stdout). Writes after a write error are dropped silently:
 * the client is gone. */
void rpc_out_init(int fd);
/* Writes p[0..n) plus '\n' as one line. Returns 0, or -1 once the output is broken. */
int rpc_send(const char *p, size_t n);

struct rpc_pool;
typedef void (*rpc_job_fn)(void *arg);

struct rpc_pool *rpc_pool_new(int max_workers);
/* Queues a job; -1 when the queue is full (the caller answers and frees arg). */
int rpc_pool_submit(struct rpc_pool *p, rpc_job_fn fn, void *arg);
/* Waits until the queue is empty and every job has finished, then stops the threads. */
void rpc_pool_free(struct rpc_pool *p);
/* Jobs queued or running right now. */
int rpc_pool_busy(struct rpc_pool *p);

#endif
