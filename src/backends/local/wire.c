/*
 * wire.c -- messages between the server, a sandbox's supervisor and its init.
 *
 * A message is a struct wire_hdr, hdr.len payload bytes, and up to WIRE_FDS_MAX file
 * descriptors attached (SCM_RIGHTS) to the header's bytes. Over a SOCK_STREAM socket the
 * kernel delivers the descriptors with the first byte of the sendmsg() that carried them,
 * so the reader collects them while it is still reading the header.
 *
 * All three processes are ours, but each still treats what it reads as untrusted input:
 * lengths are capped (WIRE_PAYLOAD_MAX), surplus descriptors are closed, and a broken
 * message ends the connection rather than being guessed at.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "util/mem.h"

union wire_cmsg {
	char b[CMSG_SPACE(sizeof(int) * WIRE_FDS_MAX)];
	struct cmsghdr align;
};

int
wire_send(int sock, uint32_t type, uint32_t tag, int32_t a, int32_t b, int32_t c,
    const void *payload, size_t len, const int *fds, int nfds)
{
	struct wire_hdr h;
	union wire_cmsg u;
	struct msghdr m;
	struct iovec iov[2];
	size_t total, sent = 0;

	if (len > WIRE_PAYLOAD_MAX || nfds < 0 || nfds > WIRE_FDS_MAX)
		return EMSGSIZE;
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.tag = tag;
	h.a = a;
	h.b = b;
	h.c = c;
	h.len = (uint32_t)len;
	total = sizeof(h) + len;
	while (sent < total) {
		ssize_t n;

		memset(&m, 0, sizeof(m));
		if (sent < sizeof(h)) {
			iov[0].iov_base = (char *)&h + sent;
			iov[0].iov_len = sizeof(h) - sent;
			iov[1].iov_base = (void *)(uintptr_t)payload;
			iov[1].iov_len = len;
			m.msg_iovlen = len > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = (char *)(uintptr_t)payload + (sent - sizeof(h));
			iov[0].iov_len = total - sent;
			m.msg_iovlen = 1;
		}
		m.msg_iov = iov;
		if (sent == 0 && nfds > 0) {
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			m.msg_control = u.b;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			cm = CMSG_FIRSTHDR(&m);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
		}
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		sent += (size_t)n;
	}
	return 0;
}

/* Keeps the descriptors of a control message; closes what does not fit. */
static void
take_fds(struct wire_in *r, struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (r->nfds < WIRE_FDS_MAX)
				r->fds[r->nfds++] = fd;
			else
				close(fd);
		}
	}
}

int
wire_read(struct wire_in *r, int sock)
{
	for (;;) {
		union wire_cmsg u;
		struct msghdr m;
		struct iovec iov;
		ssize_t n;
		size_t want;

		memset(&m, 0, sizeof(m));
		if (r->got < sizeof(r->h)) {
			iov.iov_base = (char *)&r->h + r->got;
			iov.iov_len = sizeof(r->h) - r->got;
			memset(&u, 0, sizeof(u));
			m.msg_control = u.b;
			m.msg_controllen = sizeof(u.b);
		} else {
			want = sizeof(r->h) + r->h.len - r->got;
			if (want == 0)
				return 1;
			iov.iov_base = r->payload + (r->got - sizeof(r->h));
			iov.iov_len = want;
		}
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return WIRE_MORE;
		if (n < 0)
			return -1;
		if (m.msg_controllen > 0)
			take_fds(r, &m);
		if (m.msg_flags & MSG_CTRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		if (n == 0) {
			if (r->got == 0)
				return 0;
			errno = EPIPE;
			return -1;
		}
		r->got += (size_t)n;
		if (r->got == sizeof(r->h)) {
			if (r->h.type == 0 || r->h.type >= W__MAX || r->h.len > WIRE_PAYLOAD_MAX) {
				errno = EPROTO;
				return -1;
			}
			r->payload = xmalloc((size_t)r->h.len + 1);
			r->payload[r->h.len] = '\0';
		}
		if (r->got >= sizeof(r->h) && r->got == sizeof(r->h) + r->h.len)
			return 1;
	}
}

void
wire_in_reset(struct wire_in *r)
{
	for (int i = 0; i < r->nfds; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

int
wire_addr(const char *dir, struct sockaddr_un *sa, socklen_t *len, int *dirfd)
{
	int n;

	*dirfd = -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/sup.sock", dir);
	if (n < 0 || n >= (int)sizeof(sa->sun_path)) {
		*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*dirfd < 0)
			return errno;
		n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/sup.sock",
		    *dirfd);
	}
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}
