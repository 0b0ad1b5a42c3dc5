/*
 * net.c -- a sandbox's network, run by its supervisor in this machine's namespace.
 *
 * The sandbox has a network namespace of its own with loopback only, so nothing inside
 * can reach anything outside but through us. Init made these sockets there and handed
 * them over (I_NET): the relay listeners (127.0.0.1 and ::1, ephemeral ports), the DNS
 * server's (127.0.0.1:53, UDP and TCP), the HTTP proxy's (127.0.0.1:3128), and the
 * notification fd of a seccomp filter that hands us every connect() of the sandbox.
 *
 * A connect():
 *   - to loopback, or of a family but IPv4/IPv6: goes on inside (CONTINUE), since inside
 *     it can only reach the sandbox itself (time-of-check races change nothing there);
 *   - UDP to port 53: the app's socket is connected to our DNS server instead; other UDP
 *     fails with ENETUNREACH and is recorded;
 *   - TCP: judged. Refused, it fails with EACCES and is recorded. Allowed, we connect out
 *     from here and connect the app's own socket (pidfd_getfd) to a relay listener inside:
 *     its options, flags and bound address stay its own. A blocking connect returns once
 *     the destination answered, with its error if it did not; a non-blocking one returns
 *     EINPROGRESS at once, and a destination that fails later resets the connection.
 *     Bytes then move with splice(2) between the accepted relay socket and ours.
 * We act only on what we read once from the app (its sockaddr copied, its socket
 * duplicated), and check the notification is still live after each read.
 *
 * Judging (judge()): a name (a DNS answer of ours maps back to it, or the proxy's target)
 * by the policies' domain rules, else by their address rules and defaults against the
 * addresses it really resolves to; a bare address by address rules and defaults. Both the
 * sandbox's policy and the operator's ceiling must allow. Addresses of this machine and
 * private networks (npol_addr_class, and this machine's interface addresses) are dropped
 * after resolution unless the ceiling names them; a --local-resolve pin is the operator's
 * choice and kept; host.internal is this machine's loopback, at --local-host-port ports.
 *
 * DNS: A queries are answered with an address of 198.18.0.0/15 mapped to the name; names
 * the policies may allow are first resolved for real (getaddrinfo on short-lived threads;
 * NXDOMAIN when they do not exist), denied names are never sent out (no exfiltration
 * through queries). AAAA and other types get an empty answer.
 *
 * Refusals are recorded with the session of the process that made them (its pid inside,
 * the command's), taken by the supervisor for exec's result, appended to a background
 * command's record, and kept in <dir>/network.log for network_policy.
 *
 * One thread (the supervisor's), one epoll set, level-triggered; resolver threads only run
 * getaddrinfo and write the finished job to a pipe.
 *
 * The files, by concern (net_internal.h holds what they share: the state N, the records,
 * the bounds):
 *   net.c     this map; the state; small helpers (epoll entries, sockaddrs); the loop's
 *             side (net_run, timers, freeing the dead); policy reloads; net_start
 *   judge.c   names and their addresses of ours, this machine's addresses, resolution,
 *             judging (judge()), and the record of refusals
 *   relay.c   connections from judged to spliced, the relay, capture (seccomp
 *             notifications), forwards (sandbox_url)
 *   dnsd.c    the DNS server (dns.c parses and builds its messages)
 *   proxy.c   the HTTP proxy (httpreq.c parses and rewrites its request heads)
 */
#include "backends/local/net_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/time.h"

struct net_state N = { .ep = -1 };

/* ---- small helpers ------------------------------------------------------------------- */

void
ev_init(struct ev *e, int kind, int fd, void *obj)
{
	e->kind = kind;
	e->fd = fd;
	e->mask = 0;
	e->added = false;
	e->obj = obj;
}

void
ev_set(struct ev *e, uint32_t mask)
{
	struct epoll_event ee = { .events = mask, .data.ptr = e };

	if (e->fd < 0 || (e->added && e->mask == mask))
		return;
	if (epoll_ctl(N.ep, e->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ee) == 0) {
		e->added = true;
		e->mask = mask;
	}
}

void
ev_close(struct ev *e)
{
	if (e->fd >= 0) {
		if (e->added)
			epoll_ctl(N.ep, EPOLL_CTL_DEL, e->fd, NULL);
		close(e->fd);
	}
	e->fd = -1;
	e->added = false;
}

void
rst_close(struct ev *e)
{
	struct linger lg = { 1, 0 };

	if (e->fd >= 0)
		setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	ev_close(e);
}

socklen_t
sa_make(struct sockaddr_storage *ss, int family, const uint8_t *a, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a, 4);
		return sizeof(*s4);
	}
	((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
	((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, a, 16);
	return sizeof(struct sockaddr_in6);
}

/* An address as judged: IPv4-mapped IPv6 becomes IPv4. */
bool
sa_read(const struct sockaddr_storage *ss, socklen_t len, struct addr *a, uint16_t *port)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		a->family = AF_INET;
		memcpy(a->a, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		return true;
	}
	if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		*port = ntohs(s6->sin6_port);
		if (memcmp(&s6->sin6_addr, mapped, 12) == 0) {
			a->family = AF_INET;
			memcpy(a->a, (const uint8_t *)&s6->sin6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->a, &s6->sin6_addr, 16);
		}
		return true;
	}
	return false;
}

bool
is_loopback(const struct addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 }, any6[16] = { 0 };

	if (a->family == AF_INET)
		return a->a[0] == 127 || (a->a[0] | a->a[1] | a->a[2] | a->a[3]) == 0;
	return memcmp(a->a, lo6, 16) == 0 || memcmp(a->a, any6, 16) == 0;
}

bool
is_fake(const struct addr *a)
{
	return a->family == AF_INET && a->a[0] == 198 && (a->a[1] & 0xfe) == 18;
}

void
what_set(struct conn *c)
{
	char a[80];

	if (c->name[0] != '\0') {
		snprintf(c->what, sizeof(c->what), "%s:%u", c->name, c->port);
	} else {
		npol_addr_str(c->dst.family, c->dst.a, c->port, a, sizeof(a));
		snprintf(c->what, sizeof(c->what), "%s", a);
	}
}

/* The session (inside) of a process on this machine: NSsid's last field. */
pid_t
session_of(pid_t pid)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nNSsid:");
	if (p == NULL)
		return 0;
	p = strchr(p + 1, '\n');
	if (p == NULL)
		return 0;
	while (p > buf && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	while (p > buf && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return (pid_t)atoi(p);
}

/* ---- the loop's side ------------------------------------------------------------------------ */

static void
on_end(struct conn *c, struct end *e, uint32_t events)
{
	if (c->state == C_RELAY) {
		relay_pump(c);
		return;
	}
	if (c->state == C_HEAD && e == &c->in) {
		on_proxy_head(c);
		return;
	}
	if (c->state == C_UPSTREAM && e == &c->up) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(e->ev.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
			ev_set(&c->up.ev, 0);
			conn_step(c);
			return;
		}
		c->err = err != 0 ? err : ECONNREFUSED;
		ev_close(&c->up.ev);
		c->icand++;
		upstream_next(c);
		return;
	}
	if (c->state == C_INSIDE && e == &c->in) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(e->ev.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err != 0) {
			conn_kill(c, true);
			return;
		}
		relay_start(c);
		return;
	}
	/* Anything else: an end we are not reading yet; stop hearing about it. */
	ev_set(&e->ev, 0);
}

static void
timers(void)
{
	int64_t now = time_mono_ms();

	for (struct conn *c = N.conns; c != NULL; c = c->next) {
		if (c->state == C_DEAD || c->deadline == 0 || now < c->deadline)
			continue;
		if (c->state == C_UPSTREAM) {
			c->err = ETIMEDOUT;
			ev_close(&c->up.ev);
			c->icand++;
			upstream_next(c);
		} else if (c->state == C_HEAD) {
			proxy_fail(c, 408, "no request arrived in time");
		} else {
			c->err = ETIMEDOUT;
			conn_kill(c, true);
		}
	}
	for (struct dnsc *d = N.dnscs; d != NULL; d = d->next)
		if (!d->dead && now >= d->deadline)
			dnsc_close(d);
	if (N.log_dirty && now - N.log_at >= DENY_LOG_MS)
		log_flush();
}

static void
sweep(void)
{
	for (struct conn **pp = &N.conns, *c; (c = *pp) != NULL;) {
		if (c->state == C_DEAD) {
			*pp = c->next;
			N.nconns--;
			free(c);
		} else {
			pp = &c->next;
		}
	}
	for (struct dnsc **pp = &N.dnscs, *d; (d = *pp) != NULL;) {
		if (d->dead && d->pending == 0) {
			*pp = d->next;
			N.ndnsc--;
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

int
net_poll_fd(void)
{
	return N.ep;
}

int
net_timeout_ms(void)
{
	int64_t next = 0, now = time_mono_ms();

	for (struct conn *c = N.conns; c != NULL; c = c->next)
		if (c->state != C_DEAD && c->deadline != 0 && (next == 0 || c->deadline < next))
			next = c->deadline;
	for (struct dnsc *d = N.dnscs; d != NULL; d = d->next)
		if (!d->dead && (next == 0 || d->deadline < next))
			next = d->deadline;
	if (N.log_dirty && (next == 0 || N.log_at + DENY_LOG_MS < next))
		next = N.log_at + DENY_LOG_MS;
	if (next == 0)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

void
net_run(void)
{
	struct epoll_event evs[64];
	int n;

	if (N.ep < 0)
		return;
	n = epoll_wait(N.ep, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		struct ev *e = evs[i].data.ptr;
		struct conn *c = e->obj;

		switch (e->kind) {
		case K_NOTIF:
			if (evs[i].events & (EPOLLHUP | EPOLLERR))
				ev_close(&N.notif);
			else
				on_notif();
			break;
		case K_RELAY:
			on_relay_accept(e);
			break;
		case K_DNS_UDP:
			on_dns_udp();
			break;
		case K_DNS_TCP:
			on_dns_accept();
			break;
		case K_PROXY:
			on_proxy_accept();
			break;
		case K_RESOLVED:
			on_resolved();
			break;
		case K_FWD:
			on_fwd_accept(e->obj);
			break;
		case K_DNSC:
			if (!((struct dnsc *)e->obj)->dead)
				on_dnsc(e->obj);
			break;
		case K_APP:
			if (c->state != C_DEAD)
				on_app(c);
			break;
		case K_IN:
		case K_UP:
			if (c->state != C_DEAD)
				on_end(c, e->kind == K_IN ? &c->in : &c->up, evs[i].events);
			break;
		default:
			break;
		}
	}
	timers();
	sweep();
}

/* ---- policy ----------------------------------------------------------------------------- */

static void
npol_clone(struct npol *dst, const struct npol *src, struct arena *a)
{
	dst->allow = src->allow;
	dst->n = 0;
	dst->rules = src->n > 0 ? arena_alloc(a, src->n * sizeof(*src->rules)) : NULL;
	if (dst->rules != NULL) {
		memcpy(dst->rules, src->rules, src->n * sizeof(*src->rules));
		dst->n = src->n;
	} else if (src->n > 0) {
		dst->allow = false; /* no room for the rules: fail closed */
	}
}

void
net_reload(const struct local_netcfg *cfg, const struct npol *policy)
{
	struct arena *pa = arena_new(2 * 1024 * 1024), *ca = NULL;
	char why[NPOL_NAME_MAX + 200];

	npol_clone(&N.policy, policy, pa);
	if (N.pa != NULL)
		arena_free(N.pa);
	N.pa = pa;
	if (cfg != NULL) {
		ca = arena_new(2 * 1024 * 1024);
		N.cfg = *cfg;
		npol_clone(&N.cfg.ceiling, &cfg->ceiling, ca);
		if (N.ca != NULL)
			arena_free(N.ca);
		N.ca = ca;
	}
	/* Open connections are judged again, by what they are connected to. */
	for (struct conn *c = N.conns; c != NULL; c = c->next) {
		struct addr at;

		if (c->state == C_DEAD || c->origin == O_FORWARD || c->origin == O_ATTRIB ||
		    c->ncand == 0 || c->state == C_HEAD || c->state == C_RESOLVE)
			continue;
		at = c->cand[c->icand < c->ncand ? c->icand : c->ncand - 1];
		if (judge(c, &at, why, sizeof(why)) == V_ALLOW)
			continue;
		refused(c->sid, "%s closed: %s", c->what,
		    why + strlen(c->what) +
		        (strncmp(why, c->what, strlen(c->what)) == 0 &&
		            why[strlen(c->what)] == ' '));
		c->err = EACCES;
		conn_kill(c, true);
	}
}

/* ---- start ------------------------------------------------------------------------------ */

static void
listener(struct ev *e, int kind, int fd, uint16_t *port)
{
	ev_init(e, kind, fd, NULL);
	if (fd < 0)
		return;
	if (port != NULL) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct addr a;

		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			sa_read(&ss, len, &a, port);
	}
	ev_set(e, EPOLLIN);
}

int
net_start(struct wire_in *r, int chan, const char *dir, const struct local_netcfg *cfg,
    const struct npol *policy, void (*logf)(const char *fmt, ...))
{
	int fd[NETFD__MAX], k = 0;
	struct l_notif_sizes sz;
	struct rlimit rl;
	struct stat st;

	for (int i = 0; i < NETFD__MAX; i++) {
		fd[i] = -1;
		if ((r->h.a & (1 << i)) && k < r->nfds) {
			fd[i] = r->fds[k];
			r->fds[k++] = -1;
		}
	}
	N.logf = logf;
	N.chan = chan;
	snprintf(N.dir, sizeof(N.dir), "%s", dir);
	N.ep = epoll_create1(EPOLL_CLOEXEC);
	if (N.ep < 0 || pipe2(N.rpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return errno;
	/* A relayed connection holds six fds here. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	N.netns = fd[NETFD_NETNS];
	if (N.netns >= 0 && fstat(N.netns, &st) == 0)
		N.netns_ino = st.st_ino;
	N.notif_size = sizeof(struct l_notif);
	if (syscall(SYS_seccomp, L_GET_NOTIF_SIZES, 0, &sz) == 0 && sz.notif > N.notif_size)
		N.notif_size = sz.notif;
	if (N.notif_size > NOTIF_BUF || N.netns < 0) {
		if (fd[NETFD_NOTIF] >= 0)
			close(fd[NETFD_NOTIF]);
		fd[NETFD_NOTIF] = -1;
	}
	if (fd[NETFD_NOTIF] < 0 && logf != NULL)
		logf("net: no connect notifications on this kernel; only the proxy and DNS "
		     "reach out");
	listener(&N.notif, K_NOTIF, fd[NETFD_NOTIF], NULL);
	listener(&N.relay4, K_RELAY, fd[NETFD_RELAY4], &N.relay4_port);
	listener(&N.relay6, K_RELAY, fd[NETFD_RELAY6], &N.relay6_port);
	listener(&N.dns_udp, K_DNS_UDP, fd[NETFD_DNS_UDP], NULL);
	listener(&N.dns_tcp, K_DNS_TCP, fd[NETFD_DNS_TCP], NULL);
	listener(&N.proxy, K_PROXY, fd[NETFD_PROXY], NULL);
	listener(&N.resolved, K_RESOLVED, N.rpipe[0], NULL);
	N.npool[0] = N.npool[1] = 0;
	net_reload(cfg, policy);
	return 0;
}
