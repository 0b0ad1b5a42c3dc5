/*
 * sock.h -- TCP connect with a deadline, and the one wait every blocking path uses.
 *
 * Owns:    the descriptor sock_connect() returns (non-blocking, close-on-exec,
 *          TCP_NODELAY, keep-alive probes on); the caller close()s it.
 * Borrows: host names and buffers for the duration of a call.
 * Errors:  0 or ERR_IO ("connecting to api.example.com:443: connection refused: ..."),
 *          ERR_TIMEOUT ("timed out"), ERR_CANCELLED ("cancelled"), ERR_INVAL (empty host).
 *          sock_wait, sock_read and sock_write_all give bare words ("timed out",
 *          "connection reset by peer"); callers add who and what.
 * Waits:   every wait is one poll() on the socket plus cancel_fd(cancel); it ends at
 *          once when the cancel token fires and when the deadline (absolute monotonic ms,
 *          DEADLINE_NONE for none) passes. Name resolution runs getaddrinfo() on a
 *          detached thread so that it, too, obeys the deadline and the cancel token.
 * Threads: no shared state; every function may be called from any thread.
 */
#ifndef NET_SOCK_H
#define NET_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/cancel.h"
#include "util/err.h"

/* While more addresses remain to try, one connect attempt waits at most this long. */
#define SOCK_ATTEMPT_MS 5000

/* Resolves host (a name or an IP literal, no brackets) and connects to the first
 * address that answers, trying every address getaddrinfo() returns in order. */
int sock_connect(const char *host, int port, int64_t deadline, const struct cancel *cancel,
    int *fdp, struct err *e);

/* Waits until fd has one of `events` (POLLIN, POLLOUT), an error or a hang-up.
 * A ready descriptor wins over a deadline that passed during the wait; a fired
 * cancel token wins over both. */
int sock_wait(int fd, short events, int64_t deadline, const struct cancel *cancel, struct err *e);

/* One non-blocking attempt: bytes moved (> 0), 0 at end of stream (recv only), or -1
 * with errno (EAGAIN when it would block). EINTR is retried; send never raises SIGPIPE. */
ssize_t sock_recv(int fd, void *p, size_t n);
ssize_t sock_send(int fd, const void *p, size_t n);

/* Reads at least one byte (waiting as needed) into p[0..n); *got is 0 at end of stream. */
int sock_read(int fd, void *p, size_t n, size_t *got, int64_t deadline, const struct cancel *cancel,
    struct err *e);
/* Writes all n bytes, waiting as needed. */
int sock_write_all(int fd, const void *p, size_t n, int64_t deadline, const struct cancel *cancel,
    struct err *e);

/* True while an idle connection looks usable: nothing to read and no hang-up. */
bool sock_idle_alive(int fd);

/* errno in words, lower case ("connection refused"); thread-safe. */
const char *sock_strerror(int err);

#endif
