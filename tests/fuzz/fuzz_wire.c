/*
 * fuzz_wire.c -- libFuzzer target for the local backend's message framing (wire_read):
 * what a sandbox's supervisor reads from the server and from init, and the server from
 * the supervisor.
 *
 * Input: byte 0 seeds the sizes of the pieces the rest is written in (so every message
 * arrives split at every kind of place) and, when odd, attaches two descriptors to the
 * first piece; the rest is the byte stream, sent over a real unix socket pair.
 * Checks (abort on violation): a message is handed out only whole, with a known type and
 * a payload no longer than WIRE_PAYLOAD_MAX, NUL-terminated at h.len; never more
 * descriptors than WIRE_FDS_MAX; an error or the end of the stream ends reading; every
 * descriptor received is closed again (no fd leak across inputs).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/local/internal.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_wire: %s\n", what);
	abort();
}

static int
fd_count(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Sends data in pieces (sizes from seed), the first with fds attached; closes the end. */
static void
feed(int sock, const uint8_t *data, size_t size, unsigned seed, bool with_fds)
{
	size_t off = 0;
	bool first = true;

	while (off < size) {
		size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 97;
		struct msghdr m;
		struct iovec iov;
		union {
			char b[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		int fds[2];

		if (k > size - off)
			k = size - off;
		memset(&m, 0, sizeof(m));
		iov.iov_base = (void *)(uintptr_t)(data + off);
		iov.iov_len = k;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		if (first && with_fds) {
			struct cmsghdr *cm;

			fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			memset(&u, 0, sizeof(u));
			m.msg_control = u.b;
			m.msg_controllen = sizeof(u.b);
			cm = CMSG_FIRSTHDR(&m);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, sizeof(fds));
		}
		if (sendmsg(sock, &m, MSG_NOSIGNAL) != (ssize_t)k)
			fail("sendmsg");
		if (first && with_fds) {
			close(fds[0]);
			close(fds[1]);
		}
		first = false;
		off += k;
	}
	shutdown(sock, SHUT_WR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_in r;
	int sv[2], before, rc, msgs = 0;

	if (size < 1 || size > 8192)
		return 0;
	before = fd_count();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair");
	/* The whole input fits the socket buffer: write all of it, then read it. */
	feed(sv[0], data + 1, size - 1, data[0], data[0] & 1);
	memset(&r, 0, sizeof(r));
	for (;;) {
		rc = wire_read(&r, sv[1]);
		if (rc != 1)
			break;
		msgs++;
		if (r.h.type == 0 || r.h.type >= W__MAX)
			fail("a message of unknown type was handed out");
		if (r.h.len > WIRE_PAYLOAD_MAX || r.payload == NULL || r.payload[r.h.len] != '\0')
			fail("payload not capped or not terminated");
		if (r.nfds < 0 || r.nfds > WIRE_FDS_MAX)
			fail("too many descriptors");
		if (r.got != sizeof(r.h) + r.h.len)
			fail("message handed out before it was whole");
		wire_in_reset(&r);
	}
	if (rc == WIRE_MORE)
		fail("more wanted after the peer closed");
	if (rc != 0 && rc != -1)
		fail("unexpected return value");
	wire_in_reset(&r);
	close(sv[0]);
	close(sv[1]);
	if (fd_count() != before)
		fail("descriptors leaked");
	(void)msgs;
	return 0;
}
