/*
 * bench_server.c -- a tiny, fast HTTP/1.1 file server for tools/bench.sh (not a
 * benchmark itself: bench.sh starts it, it never runs on its own).
 *
 * Usage: bench_server DIR
 *   Listens on 127.0.0.1, an ephemeral port, and prints the port on the first line of
 *   stdout. GET or HEAD /NAME answers with the file DIR/NAME (one path segment; no "..",
 *   no subdirectories) with Content-Length, its bytes sent with sendfile(2) straight from
 *   the page cache, so the client, not the server, is what a download measures.
 *   Keep-alive (HTTP/1.1 default, "Connection: close" honoured), one thread per
 *   connection. Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 8192

static int dirfd_root = -1;

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
send_file(int fd, int file, off_t size)
{
	off_t off = 0;

	while (off < size) {
		size_t want = size - off > (off_t)(1 << 30) ? (size_t)1 << 30
		                                            : (size_t)(size - off);
		ssize_t w = sendfile(fd, file, &off, want);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
	}
	return 0;
}

static int
respond_status(int fd, int code, const char *reason, int close_conn)
{
	char h[256];
	int n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n%s\r\n", code,
	    reason, close_conn ? "Connection: close\r\n" : "");

	return send_all(fd, h, (size_t)n);
}

/* Answers one request head (NUL-terminated, ends with the empty line). Returns 0 to
 * keep the connection, -1 to close it. */
static int
serve(int fd, char *head)
{
	char method[16], path[1024], h[256];
	const char *name;
	int close_conn, head_only, file, n, rc;
	struct stat st;

	if (sscanf(head, "%15s %1023s", method, path) != 2) {
		respond_status(fd, 400, "Bad Request", 1);
		return -1;
	}
	close_conn = strcasestr(head, "\nConnection: close") != NULL ||
	    strstr(head, " HTTP/1.0\r\n") != NULL;
	head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		respond_status(fd, 405, "Method Not Allowed", 1);
		return -1;
	}
	name = path[0] == '/' ? path + 1 : path;
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL ||
	    strchr(name, '?') != NULL)
		return respond_status(fd, 404, "Not Found", close_conn) || close_conn ? -1 : 0;
	file = openat(dirfd_root, name, O_RDONLY | O_CLOEXEC);
	if (file < 0 || fstat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (file >= 0)
			close(file);
		return respond_status(fd, 404, "Not Found", close_conn) || close_conn ? -1 : 0;
	}
	n = snprintf(h, sizeof(h),
	    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Length: %lld\r\n%s\r\n",
	    (long long)st.st_size, close_conn ? "Connection: close\r\n" : "");
	rc = send_all(fd, h, (size_t)n);
	if (rc == 0 && !head_only)
		rc = send_file(fd, file, st.st_size);
	close(file);
	return rc != 0 || close_conn ? -1 : 0;
}

static void *
conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[HEAD_MAX + 1];
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			size_t used = (size_t)(end + 4 - buf);
			char save = buf[used];

			buf[used] = '\0';
			if (serve(fd, buf) != 0)
				break;
			buf[used] = save;
			memmove(buf, buf + used, len - used); /* pipelined bytes */
			len -= used;
			continue;
		}
		if (len == HEAD_MAX) {
			respond_status(fd, 431, "Request Header Fields Too Large", 1);
			break;
		}
		r = recv(fd, buf + len, HEAD_MAX - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	pthread_attr_t attr;
	int ls, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_server DIR (started by tools/bench.sh)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	dirfd_root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd_root < 0) {
		fprintf(stderr, "bench_server: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 64) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &slen) != 0) {
		fprintf(stderr, "bench_server: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (;;) {
		pthread_t th;
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			fprintf(stderr, "bench_server: accept: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&th, &attr, conn_main, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}
