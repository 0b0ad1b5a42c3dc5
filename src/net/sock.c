/* sock.c -- resolve, connect and wait; every wait is poll() with a cancel descriptor. */
#include "net/sock.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCK_KEEPIDLE_S  60
#define SOCK_KEEPINTVL_S 15
#define SOCK_KEEPCNT     4

const char *
sock_strerror(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
		return "connection reset by peer";
	case EPIPE:
		return "connection closed by peer";
	case ETIMEDOUT:
		return "timed out";
	case EHOSTUNREACH:
		return "no route to host";
	case ENETUNREACH:
		return "network unreachable";
	case ENETDOWN:
		return "network is down";
	case EADDRNOTAVAIL:
		return "address not available";
	case EAFNOSUPPORT:
		return "address family not supported";
	case ECONNABORTED:
		return "connection aborted";
	case EMFILE:
	case ENFILE:
		return "too many open files";
	case ENOBUFS:
	case ENOMEM:
		return "out of memory";
	case EACCES:
	case EPERM:
		return "permission denied";
	default:
		return strerror(err);
	}
}

int
sock_wait(int fd, short events, int64_t deadline, const struct cancel *cancel, struct err *e)
{
	struct pollfd pf[2];
	int cfd = cancel_fd(cancel), n, r;

	for (;;) {
		if (cancel_fired(cancel))
			return err_set(e, ERR_CANCELLED, "cancelled");
		pf[0].fd = fd;
		pf[0].events = events;
		pf[0].revents = 0;
		n = 1;
		if (cfd >= 0) {
			pf[1].fd = cfd;
			pf[1].events = POLLIN;
			pf[1].revents = 0;
			n = 2;
		}
		r = poll(pf, (nfds_t)n, deadline_left_ms(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, ERR_IO, "poll: %s", sock_strerror(errno));
		}
		if (n == 2 && pf[1].revents != 0)
			return err_set(e, ERR_CANCELLED, "cancelled");
		if (pf[0].revents != 0)
			return 0;
		if (deadline_passed(deadline))
			return err_set(e, ERR_TIMEOUT, "timed out");
	}
}

ssize_t
sock_recv(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = recv(fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

ssize_t
sock_send(int fd, const void *p, size_t n)
{
	ssize_t r;

	do
		r = send(fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

int
sock_read(int fd, void *p, size_t n, size_t *got, int64_t deadline, const struct cancel *cancel,
    struct err *e)
{
	ssize_t r;
	int rc;

	*got = 0;
	for (;;) {
		if (cancel_fired(cancel))
			return err_set(e, ERR_CANCELLED, "cancelled");
		r = sock_recv(fd, p, n);
		if (r >= 0) {
			*got = (size_t)r;
			return 0;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return err_set(e, ERR_IO, "%s", sock_strerror(errno));
		rc = sock_wait(fd, POLLIN, deadline, cancel, e);
		if (rc != 0)
			return rc;
	}
}

int
sock_write_all(int fd, const void *p, size_t n, int64_t deadline, const struct cancel *cancel,
    struct err *e)
{
	const char *c = p;
	ssize_t r;
	int rc;

	while (n > 0) {
		if (cancel_fired(cancel))
			return err_set(e, ERR_CANCELLED, "cancelled");
		r = sock_send(fd, c, n);
		if (r > 0) {
			c += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return err_set(e, ERR_IO, "%s", sock_strerror(errno));
		rc = sock_wait(fd, POLLOUT, deadline, cancel, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

bool
sock_idle_alive(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&pf, 1, 0);
	while (r < 0 && errno == EINTR);
	return r == 0;
}

/*
 * getaddrinfo() cannot be interrupted, so it runs on a detached thread and the caller
 * waits for a byte on a pipe together with the cancel descriptor. Whoever drops the
 * last reference (the thread, or a caller that stopped waiting) frees the job.
 */
struct sock_dns {
	atomic_int refs;
	int pipe[2];
	char host[256];
	struct addrinfo *res;
	int gai;
};

static void
sock_dns_unref(struct sock_dns *d)
{
	if (atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	if (d->res != NULL)
		freeaddrinfo(d->res);
	close(d->pipe[0]);
	close(d->pipe[1]);
	free(d);
}

static void *
sock_dns_thread(void *arg)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct sock_dns *d = arg;
	ssize_t r;

	d->gai = getaddrinfo(d->host, NULL, &hints, &d->res);
	r = write(d->pipe[1], "", 1);
	(void)r;
	sock_dns_unref(d);
	return NULL;
}

static int
sock_resolve(const char *host, int64_t deadline, const struct cancel *cancel, struct addrinfo **res,
    struct err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST };
	pthread_attr_t attr;
	pthread_t tid;
	struct sock_dns *d;
	struct err we = { 0 };
	int rc, gai;

	/* IP literals need no lookup and no thread. */
	if (getaddrinfo(host, NULL, &hints, res) == 0)
		return 0;
	*res = NULL;
	d = xcalloc(1, sizeof(*d));
	snprintf(d->host, sizeof(d->host), "%s", host);
	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(d);
		return err_set(e, ERR_IO, "resolving %s: %s", host, sock_strerror(errno));
	}
	atomic_store(&d->refs, 2);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, sock_dns_thread, d) != 0) {
		/* No thread to spare: resolve here, without the deadline. */
		sock_dns_thread(d);
	}
	pthread_attr_destroy(&attr);
	rc = sock_wait(d->pipe[0], POLLIN, deadline, cancel, &we);
	if (rc == 0) {
		gai = d->gai;
		*res = d->res;
		d->res = NULL;
		if (gai != 0) {
			rc = err_set(e, ERR_IO, "resolving %s: %s: check the host name", host,
			    gai == EAI_SYSTEM ? "system error" : gai_strerror(gai));
		}
	} else if (rc == ERR_TIMEOUT) {
		rc = err_set(e, ERR_TIMEOUT,
		    "resolving %s: timed out: check the DNS "
		    "configuration",
		    host);
	} else {
		rc = err_set(e, rc, "resolving %s: %s", host, we.msg);
	}
	sock_dns_unref(d);
	return rc;
}

static void
sock_tune(int fd)
{
	int one = 1, idle = SOCK_KEEPIDLE_S, intvl = SOCK_KEEPINTVL_S, cnt = SOCK_KEEPCNT;

	/* Best effort: a socket without these still works. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* One attempt; returns the descriptor, or -1 with *soerr (0 for a timeout) or the
 * error already set in *e (cancelled, or the overall deadline). */
static int
sock_try(const struct addrinfo *ai, int port, int64_t attempt_dl, int64_t deadline,
    const struct cancel *cancel, int *soerr, struct err *e)
{
	struct sockaddr_storage ss;
	struct err we = { 0 };
	socklen_t sl = sizeof(*soerr);
	int fd, rc;

	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*soerr = errno;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			*soerr = errno;
			goto out;
		}
		rc = sock_wait(fd, POLLOUT, attempt_dl, cancel, &we);
		if (rc == ERR_CANCELLED || (rc == ERR_TIMEOUT && deadline_passed(deadline))) {
			err_set(e, rc, "%s", rc == ERR_CANCELLED ? "cancelled" : "timed out");
			*soerr = 0;
			goto out;
		}
		if (rc != 0) {
			*soerr = rc == ERR_TIMEOUT ? ETIMEDOUT : EIO;
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, soerr, &sl) != 0)
			*soerr = errno;
		if (*soerr != 0)
			goto out;
	}
	sock_tune(fd);
	return fd;
out:
	close(fd);
	return -1;
}

int
sock_connect(const char *host, int port, int64_t deadline, const struct cancel *cancel, int *fdp,
    struct err *e)
{
	struct addrinfo *res = NULL, *ai;
	struct err we = { 0 };
	int fd = -1, soerr, best = 0, rc;
	char hp[300];

	*fdp = -1;
	snprintf(hp, sizeof(hp), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	if (host[0] == '\0')
		return err_set(e, ERR_INVAL, "connecting: the host name is empty");
	rc = sock_resolve(host, deadline, cancel, &res, e);
	if (rc != 0)
		goto out;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int64_t adl = deadline;

		if (ai->ai_next != NULL)
			adl = deadline_min(deadline, deadline_in_ms(SOCK_ATTEMPT_MS));
		soerr = 0;
		fd = sock_try(ai, port, adl, deadline, cancel, &soerr, &we);
		if (fd >= 0)
			break;
		if (we.code != 0) {
			rc = err_set(e, we.code, "connecting to %s: %s", hp,
			    we.code == ERR_TIMEOUT ? "timed out: check the host, the port and "
			                             "the network"
			                           : we.msg);
			goto out;
		}
		/* "Unreachable" from one family must not hide a refusal from another. */
		if (best == 0 ||
		    (soerr != ENETUNREACH && soerr != EADDRNOTAVAIL && soerr != EAFNOSUPPORT))
			best = soerr;
	}
	if (fd < 0) {
		rc = err_set(e, ERR_IO, "connecting to %s: %s: %s", hp, sock_strerror(best),
		    best == ECONNREFUSED ? "is the server running, and are the host and port "
		                           "right?"
		                         : "check the host, the port and the network");
	}
out:
	if (res != NULL)
		freeaddrinfo(res);
	*fdp = fd;
	return rc;
}
