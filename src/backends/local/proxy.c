/*
 * proxy.c -- a sandbox's HTTP proxy (127.0.0.1:LOCAL_PROXY_PORT inside); part of the
 * sandbox's network (net.c has the map).
 *
 * Reads a request's head (HREQ_HEAD_MAX, within HEAD_MS; httpreq.c parses it), takes its
 * target as the connection's destination (a name, an address, or an address of ours
 * mapped back to its name) and hands the connection to relay.c, judged like a captured
 * connect(). CONNECT is answered 200 once the destination is connected; an absolute-form
 * request goes on rewritten to origin form. A request not forwarded gets an HTTP error
 * naming why (proxy_fail). Who asks is known by the client's port, noted when its
 * connect() was captured. The supervisor's thread only.
 */
#include "backends/local/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/time.h"
/* ---- the proxy ------------------------------------------------------------------------------ */

/* The proxy's answer to a request it will not forward, then the end. */
void
proxy_fail(struct conn *c, int status, const char *reason)
{
	char msg[512];
	const char *st = status == 403 ? "Forbidden"
	    : status == 502            ? "Bad Gateway"
	    : status == 504            ? "Gateway Timeout"
	    : status == 501            ? "Not Implemented"
	    : status == 405            ? "Method Not Allowed"
	    : status == 431            ? "Request Header Fields Too Large"
	    : status == 414            ? "URI Too Long"
	                               : "Bad Request";
	int body = (int)strlen(reason) + 14, n;

	n = snprintf(msg, sizeof(msg),
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %d\r\nConnection: close\r\nX-Sandbox-Refused: %s\r\n\r\n"
	    "sandbox-mcp: %s\n",
	    status, st, body, reason, reason);
	if (n > 0 && c->in.ev.fd >= 0)
		(void)send(c->in.ev.fd, msg,
		    (size_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_kill(c, false);
}

void
on_proxy_accept(void)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(N.proxy.fd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct conn *c;
		struct addr a;
		uint16_t port = 0;

		if (fd < 0)
			return;
		if (N.nconns >= CONNS_MAX) {
			close(fd);
			continue;
		}
		c = conn_new(O_PROXY);
		ev_init(&c->in.ev, K_IN, fd, c);
		if (sa_read(&ss, len, &a, &port))
			c->sid = attr_find(port);
		c->state = C_HEAD;
		c->deadline = deadline_in_ms(HEAD_MS);
		c->head = xmalloc(HREQ_HEAD_MAX);
		ev_set(&c->in.ev, EPOLLIN);
	}
}

void
on_proxy_head(struct conn *c)
{
	ssize_t n = recv(c->in.ev.fd, c->head + c->hlen, HREQ_HEAD_MAX - c->hlen, MSG_DONTWAIT);
	struct hreq r;
	int rc;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			conn_kill(c, false);
		return;
	}
	c->hlen += (size_t)n;
	rc = hreq_parse(c->head, c->hlen, &r);
	if (rc == 0)
		return;
	if (rc < 0) {
		proxy_fail(c, r.status, r.why);
		return;
	}
	ev_set(&c->in.ev, 0);
	c->connect_method = r.connect;
	c->port = r.port;
	if (inet_pton(AF_INET, r.host, c->dst.a) == 1) {
		c->dst.family = AF_INET;
	} else if (inet_pton(AF_INET6, r.host, c->dst.a) == 1) {
		struct sockaddr_storage ss;
		uint16_t p;

		socklen_t len = sa_make(&ss, AF_INET6, c->dst.a, 0);

		sa_read(&ss, len, &c->dst, &p);
	} else if (strlen(r.host) < sizeof(c->name)) {
		memcpy(c->name, r.host, strlen(r.host) + 1);
	} else {
		proxy_fail(c, 400, "the host name is too long");
		return;
	}
	if (c->name[0] == '\0' && is_fake(&c->dst)) {
		const struct nm *m = nm_of_addr(&c->dst);

		if (m != NULL)
			snprintf(c->name, sizeof(c->name), "%s", m->name);
	}
	what_set(c);
	/* What follows the head is the client's: an absolute-form request goes to the
	 * origin rewritten, then anything after it; CONNECT's extra bytes go as they are. */
	{
		size_t rest = c->hlen - r.head_len;
		char *buf;
		long hl = 0;

		buf = xmalloc(2 * HREQ_HEAD_MAX + rest);
		if (!r.connect) {
			hl = hreq_rewrite(c->head, &r, buf, 2 * HREQ_HEAD_MAX);
			if (hl < 0) {
				free(buf);
				proxy_fail(c, 431, "the request head is too large");
				return;
			}
		}
		memcpy(buf + hl, c->head + r.head_len, rest);
		c->up.pre = buf;
		c->up.prelen = (size_t)hl + rest;
		free(c->head);
		c->head = NULL;
	}
	c->state = C_NEW;
	conn_step(c);
}
