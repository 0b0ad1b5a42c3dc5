/*
 * relay.c -- a sandbox's connections, from the ask to the bytes; part of the sandbox's
 * network (net.c has the map).
 *
 * A connection starts as a captured connect() (a seccomp notification), a proxy request
 * (proxy.c) or a forward's accept (sandbox_url); it is judged (judge.c), connected out,
 * then relayed: splice(2) through one pipe per direction (PIPE_SIZE), at most PUMP_ROUNDS
 * rounds per wakeup. Owns struct conn from conn_new to conn_kill (net.c frees the dead),
 * the one answer to each notification, the note of which session's socket asked for the
 * proxy (ATTR_MAX), the pool of sockets init makes inside (I_SOCKET, POOL_MAX per family)
 * and the forwards' listeners. An app sees a failure as the errno of its connect() or a
 * reset. The supervisor's thread only.
 */
#include "backends/local/net_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/time.h"
/* ---- connections ------------------------------------------------------------------------ */

struct conn *
conn_new(int origin)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->origin = origin;
	c->state = C_NEW;
	ev_init(&c->in.ev, K_IN, -1, c);
	ev_init(&c->up.ev, K_UP, -1, c);
	ev_init(&c->app, K_APP, -1, c);
	c->in.pipe[0] = c->in.pipe[1] = c->up.pipe[0] = c->up.pipe[1] = -1;
	c->next = N.conns;
	N.conns = c;
	N.nconns++;
	return c;
}

static void
end_free(struct end *e, bool reset)
{
	if (reset)
		rst_close(&e->ev);
	else
		ev_close(&e->ev);
	for (int i = 0; i < 2; i++)
		if (e->pipe[i] >= 0)
			close(e->pipe[i]);
	e->pipe[0] = e->pipe[1] = -1;
	free(e->pre);
	e->pre = NULL;
}

static void
notif_reply(uint64_t id, int err, bool cont)
{
	struct l_notif_resp r = { id, 0, err != 0 ? -err : 0, cont ? L_NOTIF_CONTINUE : 0 };

	if (ioctl(N.notif.fd, L_IOC_SEND, &r) < 0 && errno != ENOENT && N.logf != NULL)
		N.logf("net: answering a connect: %s", strerror(errno));
}

static void
answer(struct conn *c, int err)
{
	if (c->answered)
		return;
	c->answered = true;
	if (c->origin == O_CAPTURE || c->origin == O_ATTRIB)
		notif_reply(c->notif_id, err, false);
	ev_close(&c->app);
}

/* Ends c now (freed by net_run): reset sends RSTs both ways. */
void
conn_kill(struct conn *c, bool reset)
{
	if (c->state == C_DEAD)
		return;
	if (!c->answered && (c->origin == O_CAPTURE || c->origin == O_ATTRIB))
		answer(c, c->err != 0 ? c->err : ECONNREFUSED);
	if (c->job != NULL) {
		for (struct conn **pp = &c->job->conns; *pp != NULL; pp = &(*pp)->wnext) {
			if (*pp == c) {
				*pp = c->wnext;
				break;
			}
		}
		c->job = NULL;
	}
	end_free(&c->in, reset);
	end_free(&c->up, reset);
	ev_close(&c->app);
	free(c->head);
	c->head = NULL;
	c->state = C_DEAD;
}

static void
deny(struct conn *c, const char *why)
{
	refused(c->sid, "%s", why);
	if (c->origin == O_PROXY) {
		proxy_fail(c, 403, why);
		return;
	}
	c->err = EACCES;
	conn_kill(c, false);
}

/* The destination did not answer (or refused): say so the way the app can see. */
static void
upstream_failed(struct conn *c, int err)
{
	char why[NPOL_NAME_MAX + 160];

	c->err = err;
	snprintf(why, sizeof(why), "%s unreachable: %s", c->what, strerror(err));
	refused(c->sid, "%s", why);
	if (c->origin == O_PROXY) {
		proxy_fail(c, err == ETIMEDOUT ? 504 : 502, why);
	} else if (!c->answered) {
		conn_kill(c, false); /* the blocking connect fails with err */
	} else if (c->in.ev.fd >= 0) {
		conn_kill(c, true);
	} else {
		c->state = C_FAILED; /* reset the relay socket when it arrives */
		c->deadline = deadline_in_ms(ACCEPT_MS);
	}
}

void
upstream_next(struct conn *c)
{
	while (c->icand < c->ncand) {
		const struct addr *a = &c->cand[c->icand];
		struct sockaddr_storage ss;
		socklen_t len = sa_make(&ss, a->family, a->a, c->port);
		int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

		if (fd < 0) {
			c->err = errno;
			c->icand++;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS) {
			ev_init(&c->up.ev, K_UP, fd, c);
			ev_set(&c->up.ev, EPOLLOUT);
			c->state = C_UPSTREAM;
			c->deadline = deadline_in_ms(CONNECT_MS);
			return;
		}
		c->err = errno;
		close(fd);
		c->icand++;
	}
	upstream_failed(c, c->err != 0 ? c->err : EHOSTUNREACH);
}

/* Connects the app's socket (our copy) to a listener inside without blocking us: 0,
 * EINPROGRESS, or an errno. Records the app's local port. */
static int
app_connect(struct conn *c, const uint8_t *a4, const uint8_t *a6, uint16_t port4, uint16_t port6)
{
	static const uint8_t mapped_lo[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	struct sockaddr_storage ss, me;
	socklen_t len, ml = sizeof(me);
	int fl = fcntl(c->app.fd, F_GETFL), rc;
	uint16_t p;
	struct addr ma;

	if (c->app_family == AF_INET)
		len = sa_make(&ss, AF_INET, a4, port4);
	else if (a6 != NULL && port6 != 0)
		len = sa_make(&ss, AF_INET6, a6, port6);
	else {
		uint8_t m[16];

		memcpy(m, mapped_lo, 16);
		memcpy(m + 12, a4, 4);
		len = sa_make(&ss, AF_INET6, m, port4);
	}
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(c->app.fd, F_SETFL, fl | O_NONBLOCK);
	rc = connect(c->app.fd, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(c->app.fd, F_SETFL, fl);
	if ((rc == 0 || rc == EINPROGRESS) &&
	    getsockname(c->app.fd, (struct sockaddr *)&me, &ml) == 0 && sa_read(&me, ml, &ma, &p))
		c->app_port = p;
	return rc;
}

static void
relay_connect_app(struct conn *c)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 }, lo6[16] = { [15] = 1 };
	int rc = app_connect(c, lo4, lo6, N.relay4_port, N.relay6_port);

	if (rc == 0 || (rc == EINPROGRESS && !c->blocking)) {
		answer(c, rc);
	} else if (rc == EINPROGRESS) {
		c->state = C_LOCAL;
		ev_set(&c->app, EPOLLOUT);
		c->deadline = deadline_in_ms(ACCEPT_MS);
		return;
	} else {
		c->err = rc;
		conn_kill(c, false);
		return;
	}
}

void
relay_start(struct conn *c)
{
	struct end *e[2] = { &c->in, &c->up };
	int one = 1;

	c->state = C_RELAY;
	c->deadline = 0;
	for (int i = 0; i < 2; i++) {
		if (pipe2(e[i]->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
			conn_kill(c, true);
			return;
		}
		fcntl(e[i]->pipe[0], F_SETPIPE_SZ, PIPE_SIZE);
		e[i]->cap = (size_t)fcntl(e[i]->pipe[0], F_GETPIPE_SZ);
		if ((ssize_t)e[i]->cap <= 0)
			e[i]->cap = 65536;
		setsockopt(e[i]->ev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	relay_pump(c);
}

/* The next thing c waits for, after its destination was judged or connected. */
void
conn_step(struct conn *c)
{
	char why[NPOL_NAME_MAX + 200];
	int v;

	switch (c->state) {
	case C_NEW:
	case C_RESOLVE:
		v = judge(c, NULL, why, sizeof(why));
		if (v == V_WAIT) {
			c->state = C_RESOLVE;
			c->deadline = 0;
			return;
		}
		if (v == V_DENY) {
			deny(c, why);
			return;
		}
		if (v == V_NX) {
			refused(c->sid, "%s", why);
			c->err = EHOSTUNREACH;
			if (c->origin == O_PROXY)
				proxy_fail(c, 502, why);
			else
				conn_kill(c, false);
			return;
		}
		if (c->origin == O_CAPTURE && !c->blocking) {
			relay_connect_app(c);
			if (c->state == C_DEAD)
				return;
		}
		upstream_next(c);
		return;
	case C_UPSTREAM:
		c->upstream_ok = true;
		c->deadline = 0;
		if (c->origin == O_PROXY) {
			static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

			if (c->connect_method) {
				c->in.pre = xstrndup(ok, sizeof(ok) - 1);
				c->in.prelen = sizeof(ok) - 1;
			}
			relay_start(c);
		} else if (!c->answered) {
			relay_connect_app(c);
			if (c->state != C_DEAD && c->state != C_LOCAL)
				c->state = c->in.ev.fd >= 0 ? C_RELAY : C_ACCEPT;
			if (c->state == C_RELAY)
				relay_start(c);
			else if (c->state == C_ACCEPT)
				c->deadline = deadline_in_ms(ACCEPT_MS);
		} else if (c->in.ev.fd >= 0) {
			relay_start(c);
		} else {
			c->state = C_ACCEPT;
			c->deadline = deadline_in_ms(ACCEPT_MS);
		}
		return;
	default:
		return;
	}
}

/* An accepted relay socket: the app's connection, found by its port. */
void
on_relay_accept(struct ev *l)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct addr a;
		uint16_t port;
		struct conn *c;

		if (fd < 0)
			return;
		if (!sa_read(&ss, len, &a, &port)) {
			close(fd);
			continue;
		}
		for (c = N.conns; c != NULL; c = c->next)
			if (c->origin == O_CAPTURE && c->state != C_DEAD && c->in.ev.fd < 0 &&
			    c->app_port == port && c->app_port != 0)
				break;
		if (c == NULL) {
			close(fd); /* someone inside connected to it directly */
			continue;
		}
		ev_init(&c->in.ev, K_IN, fd, c);
		if (c->state == C_FAILED)
			conn_kill(c, true);
		else if (c->upstream_ok)
			relay_start(c);
	}
}

/* ---- the relay ---------------------------------------------------------------------------- */

/* Moves bytes from one end to the other; false on an error that ends the connection. */
static bool
pump(struct end *from, struct end *to, bool *moved)
{
	while (to->preoff < to->prelen) {
		ssize_t n = send(to->ev.fd, to->pre + to->preoff, to->prelen - to->preoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (n <= 0)
			break;
		to->preoff += (size_t)n;
		*moved = true;
	}
	while (!from->eof && from->queued < from->cap) {
		ssize_t n = splice(from->ev.fd, NULL, from->pipe[1], NULL, from->cap - from->queued,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			from->queued += (size_t)n;
			*moved = true;
		} else if (n == 0) {
			from->eof = true;
			*moved = true;
		} else if (errno == EAGAIN || errno == EINTR) {
			break;
		} else {
			return false;
		}
	}
	while (from->queued > 0 && to->preoff >= to->prelen) {
		/* A full pipe means a bulk transfer with more behind it: let TCP fill whole
		 * segments (the sockets have TCP_NODELAY for everything else). */
		bool more = from->queued == from->cap && !from->eof;
		ssize_t n = splice(from->pipe[0], NULL, to->ev.fd, NULL, from->queued,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0));

		if (n > 0) {
			from->queued -= (size_t)n;
			to->corked = more;
			*moved = true;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			break;
		} else {
			return false;
		}
	}
	if (to->corked && from->queued == 0) {
		int one = 1;

		/* Setting TCP_NODELAY pushes what SPLICE_F_MORE held back. */
		setsockopt(to->ev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		to->corked = false;
	}
	if (from->eof && from->queued == 0 && to->preoff >= to->prelen && !to->shut) {
		shutdown(to->ev.fd, SHUT_WR);
		to->shut = true;
	}
	return true;
}

static uint32_t
end_mask(const struct end *self, const struct end *other)
{
	uint32_t m = 0;

	if (!self->eof && self->queued < self->cap)
		m |= EPOLLIN;
	if (other->queued > 0 || self->preoff < self->prelen)
		m |= EPOLLOUT;
	return m;
}

void
relay_pump(struct conn *c)
{
	for (int round = 0; round < PUMP_ROUNDS; round++) {
		bool moved = false;

		if (!pump(&c->in, &c->up, &moved) || !pump(&c->up, &c->in, &moved)) {
			conn_kill(c, true);
			return;
		}
		if (!moved)
			break;
	}
	if (c->in.eof && c->up.eof && c->in.queued == 0 && c->up.queued == 0) {
		conn_kill(c, false);
		return;
	}
	ev_set(&c->in.ev, end_mask(&c->in, &c->up));
	ev_set(&c->up.ev, end_mask(&c->up, &c->in));
}

/* ---- capture (seccomp notifications) ------------------------------------------------------ */

static bool
notif_valid(uint64_t id)
{
	static bool old_dir; /* kernels before 5.7 know the request as _IOR */

	if (!old_dir && ioctl(N.notif.fd, L_IOC_ID_VALID, &id) == 0)
		return true;
	if (!old_dir && errno != EINVAL && errno != ENOTTY)
		return false;
	old_dir = true;
	return ioctl(N.notif.fd, _IOR('!', 2, uint64_t), &id) == 0;
}

/* Our copy of fd of process pid, checked to be an IPv4/IPv6 socket of the sandbox's
 * network namespace; -1 (errno) otherwise. */
static int
app_socket(pid_t pid, int fd, uint64_t id, int *type, int *family)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), s, ns;
	socklen_t l = sizeof(int);
	struct stat st;

	if (pfd < 0)
		return -1;
	s = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	close(pfd);
	if (s < 0)
		return -1;
	if (!notif_valid(id) || getsockopt(s, SOL_SOCKET, SO_TYPE, type, &l) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_DOMAIN, family, &l) < 0 ||
	    (*family != AF_INET && *family != AF_INET6)) {
		close(s);
		errno = EINVAL;
		return -1;
	}
	ns = ioctl(s, L_SIOCGSKNS);
	if (ns < 0 || fstat(ns, &st) < 0 || st.st_ino != N.netns_ino) {
		if (ns >= 0)
			close(ns);
		close(s);
		errno = EXDEV;
		return -1;
	}
	close(ns);
	return s;
}

static void
attr_note(uint16_t port, pid_t sid)
{
	N.attr[N.attr_next % ATTR_MAX].port = port;
	N.attr[N.attr_next % ATTR_MAX].sid = sid;
	N.attr_next++;
}

pid_t
attr_find(uint16_t port)
{
	for (size_t i = 0; i < ATTR_MAX; i++)
		if (N.attr[i].port == port && port != 0)
			return N.attr[i].sid;
	return 0;
}

static void
capture(const struct l_notif *n)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	struct sockaddr_storage ss;
	struct iovec li = { &ss, sizeof(ss) }, ri;
	size_t len = (size_t)n->data.args[2];
	int type = 0, family = 0, s;
	struct addr dst;
	uint16_t port;
	struct conn *c;
	uint16_t local = 0;

	memset(&ss, 0, sizeof(ss));
	if (n->data.nr != SYS_connect || len < sizeof(sa_family_t) || len > sizeof(ss)) {
		notif_reply(n->id, 0, true);
		return;
	}
	ri.iov_base = (void *)(uintptr_t)n->data.args[1];
	ri.iov_len = len;
	li.iov_len = len;
	if (process_vm_readv((pid_t)n->pid, &li, 1, &ri, 1, 0) != (ssize_t)len) {
		if (errno == EPERM && !N.no_getfd_logged && N.logf != NULL) {
			N.no_getfd_logged = true;
			N.logf(
			    "net: cannot read a sandbox process's memory (%s; a ptrace policy?): "
			    "connections other than through the proxy fail",
			    strerror(errno));
		}
		notif_reply(n->id, 0, true);
		return;
	}
	if (!notif_valid(n->id) || !sa_read(&ss, (socklen_t)len, &dst, &port)) {
		/* Not an address we judge (or unreadable): inside, it reaches nothing. */
		notif_reply(n->id, 0, true);
		return;
	}
	/* Connects to the proxy are made here, so the proxy knows who asks (by the app's
	 * port); DNS to any server, over UDP or TCP, goes to ours. */
	if (dst.family == AF_INET && memcmp(dst.a, lo4, 4) == 0 && port == LOCAL_PROXY_PORT)
		local = LOCAL_PROXY_PORT;
	else if (is_loopback(&dst)) {
		notif_reply(n->id, 0, true);
		return;
	} else if (port == 53) {
		local = 53;
	}
	if (N.nconns >= CONNS_MAX) {
		notif_reply(n->id, EAGAIN, false); /* as when no local port is free */
		return;
	}
	s = app_socket((pid_t)n->pid, (int)n->data.args[0], n->id, &type, &family);
	if (s < 0) {
		if (errno == EBADF) {
			notif_reply(n->id, EBADF, false);
			return;
		}
		if (errno != EINVAL && errno != EXDEV && !N.no_getfd_logged && N.logf != NULL) {
			N.no_getfd_logged = true;
			N.logf("net: cannot take a sandbox process's socket (%s): connections "
			       "other than through the proxy fail",
			    strerror(errno));
		}
		notif_reply(n->id, 0, true);
		return;
	}
	c = conn_new(
	    local != 0 && (type == SOCK_STREAM || type == SOCK_DGRAM) ? O_ATTRIB : O_CAPTURE);
	ev_init(&c->app, K_APP, s, c);
	c->notif_id = n->id;
	c->app_family = family;
	c->sid = session_of((pid_t)n->pid);
	c->dst = dst;
	c->port = port;
	{
		int fl = fcntl(s, F_GETFL);
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);

		c->blocking = fl >= 0 && !(fl & O_NONBLOCK);
		/* A second connect() of a connected TCP socket (some libraries ask so). */
		if (type == SOCK_STREAM && getpeername(s, (struct sockaddr *)&peer, &pl) == 0) {
			c->err = EISCONN;
			conn_kill(c, false);
			return;
		}
	}
	if (c->origin == O_ATTRIB) {
		int rc = app_connect(c, lo4, NULL, local, 0);

		if (local == LOCAL_PROXY_PORT && (rc == 0 || rc == EINPROGRESS))
			attr_note(c->app_port, c->sid);
		if (rc == EINPROGRESS && c->blocking) {
			c->state = C_LOCAL;
			ev_set(&c->app, EPOLLOUT);
			c->deadline = deadline_in_ms(ACCEPT_MS);
			return;
		}
		c->err = rc;
		answer(c, rc);
		conn_kill(c, false);
		return;
	}
	if (c->dst.family == AF_INET && is_fake(&c->dst)) {
		const struct nm *m = nm_of_addr(&c->dst);

		if (m != NULL)
			snprintf(c->name, sizeof(c->name), "%s", m->name);
	}
	what_set(c);
	if (type == SOCK_DGRAM) {
		refused(c->sid, "%s UDP: only TCP connections leave the sandbox", c->what);
		c->err = ENETUNREACH;
		conn_kill(c, false);
		return;
	}
	if (type != SOCK_STREAM) {
		refused(c->sid, "%s: only TCP connections leave the sandbox", c->what);
		c->err = ENETUNREACH;
		conn_kill(c, false);
		return;
	}
	if (is_fake(&c->dst) && c->name[0] == '\0') {
		refused(c->sid,
		    "%s: an unknown address of the sandbox's DNS (look the name up "
		    "again)",
		    c->what);
		c->err = EHOSTUNREACH;
		conn_kill(c, false);
		return;
	}
	conn_step(c);
}

void
on_notif(void)
{
	union {
		struct l_notif n;
		uint8_t raw[NOTIF_BUF]; /* the kernel's may be larger than ours */
	} u;

	memset(&u, 0, sizeof(u));
	if (ioctl(N.notif.fd, L_IOC_RECV, &u) < 0) {
		if (errno != ENOENT && errno != EINTR && errno != EAGAIN) {
			if (N.logf != NULL)
				N.logf("net: the connect filter's notifications stopped: %s",
				    strerror(errno));
			ev_close(&N.notif);
		}
		return;
	}
	capture(&u.n);
}

/* The app's socket reached a listener inside (a blocking connect): answer it. */
void
on_app(struct conn *c)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(c->app.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	answer(c, err);
	if (err != 0 || c->origin == O_ATTRIB) {
		c->err = err;
		conn_kill(c, err != 0);
		return;
	}
	if (c->in.ev.fd >= 0 && c->upstream_ok) {
		relay_start(c);
	} else {
		c->state = C_ACCEPT;
		c->deadline = deadline_in_ms(ACCEPT_MS);
	}
}

/* ---- forwards (sandbox_url) ----------------------------------------------------------------- */

static void
pool_ask(int fi)
{
	if (N.pool_asked[fi] || N.chan < 0)
		return;
	N.pool_asked[fi] = wire_send(N.chan, I_SOCKET, 0, fi == 0 ? AF_INET : AF_INET6, POOL_MAX, 0,
	                       NULL, 0, NULL, 0) == 0;
}

static void
forward_inside(struct conn *c)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	struct sockaddr_storage ss;
	socklen_t len = sa_make(&ss, AF_INET, lo4, (uint16_t)c->fwd_port);
	int fd;

	if (N.npool[0] == 0) {
		c->state = C_SOCKET;
		c->deadline = deadline_in_ms(CONNECT_MS);
		pool_ask(0);
		return;
	}
	fd = N.pool[0][--N.npool[0]];
	if (N.npool[0] < POOL_MAX / 2)
		pool_ask(0);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		close(fd);
		conn_kill(c, true);
		return;
	}
	ev_init(&c->in.ev, K_IN, fd, c);
	ev_set(&c->in.ev, EPOLLOUT);
	c->state = C_INSIDE;
	c->deadline = deadline_in_ms(CONNECT_MS);
}

void
net_sockets(struct wire_in *r)
{
	int fi = r->h.a == AF_INET6 ? 1 : 0;

	N.pool_asked[fi] = false;
	for (int i = 0; i < r->nfds; i++) {
		if (N.npool[fi] < POOL_MAX) {
			N.pool[fi][N.npool[fi]++] = r->fds[i];
			r->fds[i] = -1;
		}
	}
	for (struct conn *c = N.conns; c != NULL; c = c->next)
		if (c->state == C_SOCKET)
			forward_inside(c);
}

void
on_fwd_accept(struct fwd *f)
{
	for (int k = 0; k < 64; k++) {
		int fd = accept4(f->ev.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct conn *c;

		if (fd < 0)
			return;
		if (N.nconns >= CONNS_MAX) {
			close(fd);
			continue;
		}
		c = conn_new(O_FORWARD);
		ev_init(&c->up.ev, K_UP, fd, c);
		c->fwd_port = f->port_in;
		c->upstream_ok = true;
		forward_inside(c);
	}
}

int
net_forward(int port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct fwd *f;
	int fd;

	for (f = N.fwds; f != NULL; f = f->next)
		if (f->port_in == port)
			return f->port_host;
	if (N.ep < 0)
		return -ENETDOWN;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	f = xcalloc(1, sizeof(*f));
	ev_init(&f->ev, K_FWD, fd, f);
	ev_set(&f->ev, EPOLLIN);
	f->port_in = port;
	f->port_host = ntohs(sa.sin_port);
	f->next = N.fwds;
	N.fwds = f;
	pool_ask(0);
	return f->port_host;
}
