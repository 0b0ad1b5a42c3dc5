/*
 * dnsd.c -- a sandbox's DNS server (127.0.0.1:53 inside, UDP and TCP); part of the
 * sandbox's network (net.c has the map).
 *
 * dns.c parses the queries and builds the replies; here they are answered. localhost is
 * 127.0.0.1; any other name gets its address of ours (judge.c), after a real resolution
 * when the policies may allow it, so a name that does not exist is NXDOMAIN. Denied
 * names, host.internal and pinned names are never sent out. A query waiting for a
 * resolution is parked on its job (PARKED_MAX at once; more are dropped and asked again).
 * A TCP client (DNSC_MAX at once) is closed HEAD_MS after it connected and freed by
 * net.c once none of its queries is parked. The supervisor's thread only.
 */
#include "backends/local/net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/time.h"
/* ---- DNS ------------------------------------------------------------------------------------ */

static void
dns_send(const uint8_t *msg, size_t len, const struct sockaddr_storage *from, socklen_t fromlen,
    struct dnsc *tcp)
{
	if (tcp == NULL) {
		(void)sendto(N.dns_udp.fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		    (const struct sockaddr *)from, fromlen);
	} else if (!tcp->dead) {
		uint8_t pre[2] = { (uint8_t)(len >> 8), (uint8_t)len };
		struct iovec iov[2] = { { pre, 2 }, { (void *)(uintptr_t)msg, len } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		(void)sendmsg(tcp->ev.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

/* Whether a name is denied before any resolution (never sent out, then). */
static bool
name_denied(const char *name)
{
	const struct npol_rule *r;

	return by_name(&N.cfg.ceiling, name, &r) == 0 || by_name(&N.policy, name, &r) == 0;
}

void
dnsd_answer(struct dns_query *q, const struct sockaddr_storage *from, socklen_t fromlen,
    struct dnsc *tcp)
{
	uint8_t out[DNS_UDP_MAX], a4[1][4];
	size_t len;
	int rcode = q->rcode, n = 0;
	struct nm *m = NULL;

	if (rcode == DNS_NOERROR && q->qclass != DNS_C_IN)
		rcode = DNS_NOTIMP;
	if (rcode == DNS_NOERROR && q->name[0] != '\0') {
		size_t nl = strlen(q->name);

		if (strcmp(q->name, "localhost") == 0 ||
		    (nl > 10 && strcmp(q->name + nl - 10, ".localhost") == 0)) {
			a4[0][0] = 127;
			a4[0][1] = a4[0][2] = 0;
			a4[0][3] = 1;
			n = q->qtype == DNS_T_A;
		} else if ((m = nm_get(q->name)) == NULL) {
			rcode = DNS_SERVFAIL;
		} else if (strcmp(q->name, LOCAL_HOST_NAME) == 0 || pin_of(q->name) != NULL ||
		    name_denied(q->name)) {
			nm_addr(m, a4[0]); /* judged (and refused or not) at connect */
			n = q->qtype == DNS_T_A;
		} else if (m->status == NM_UNKNOWN || time_mono_ms() >= m->until) {
			struct rjob *j;
			struct dnsq *w;

			if (N.nparked >= PARKED_MAX)
				return; /* dropped: the resolver asks again */
			j = nm_resolve(m);
			w = xcalloc(1, sizeof(*w));
			N.nparked++;

			w->q = *q;
			if (from != NULL)
				memcpy(&w->from, from, fromlen);
			w->fromlen = fromlen;
			w->tcp = tcp;
			if (tcp != NULL)
				tcp->pending++;
			w->next = j->queries;
			j->queries = w;
			return;
		} else if (m->status == NM_NX) {
			rcode = DNS_NXDOMAIN;
		} else if (m->status == NM_FAIL) {
			rcode = DNS_SERVFAIL;
		} else {
			nm_addr(m, a4[0]);
			n = q->qtype == DNS_T_A;
		}
	}
	len = dns_reply(q, rcode, (const uint8_t(*)[4])a4, (size_t)n, FAKE_TTL, out, sizeof(out));
	if (len > 0)
		dns_send(out, len, from, fromlen, tcp);
}

void
on_dns_udp(void)
{
	for (int k = 0; k < 64; k++) {
		uint8_t buf[1500];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct dns_query q;
		ssize_t n = recvfrom(N.dns_udp.fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fl);

		if (n < 0)
			return;
		if (dns_parse(buf, (size_t)n, &q) == 0)
			dnsd_answer(&q, &from, fl, NULL);
	}
}

void
dnsc_release(struct dnsc *d)
{
	if (d->pending > 0)
		d->pending--;
}

void
dnsc_close(struct dnsc *d)
{
	ev_close(&d->ev);
	d->dead = true;
}

void
on_dnsc(struct dnsc *d)
{
	ssize_t n = read(d->ev.fd, d->buf + d->got, sizeof(d->buf) - d->got);

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			dnsc_close(d);
		return;
	}
	d->got += (size_t)n;
	while (d->got >= 2) {
		size_t len = (size_t)d->buf[0] << 8 | d->buf[1];
		struct dns_query q;

		if (len > sizeof(d->buf) - 2) {
			dnsc_close(d);
			return;
		}
		if (d->got < 2 + len)
			return;
		if (dns_parse(d->buf + 2, len, &q) == 0)
			dnsd_answer(&q, NULL, 0, d);
		memmove(d->buf, d->buf + 2 + len, d->got - 2 - len);
		d->got -= 2 + len;
	}
}

void
on_dns_accept(void)
{
	for (int k = 0; k < 16; k++) {
		int fd = accept4(N.dns_tcp.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct dnsc *d;

		if (fd < 0)
			return;
		if (N.ndnsc >= DNSC_MAX) {
			close(fd);
			continue;
		}
		N.ndnsc++;
		d = xcalloc(1, sizeof(*d));
		ev_init(&d->ev, K_DNSC, fd, d);
		ev_set(&d->ev, EPOLLIN);
		d->deadline = deadline_in_ms(HEAD_MS);
		d->next = N.dnscs;
		N.dnscs = d;
	}
}
