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
 */
#include "backends/local/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/time.h"

/* From the kernel uapi (<linux/seccomp.h>, <linux/sockios.h>), which musl-gcc lacks. */
struct l_notif_data {
	int nr;
	uint32_t arch;
	uint64_t ip;
	uint64_t args[6];
};

struct l_notif {
	uint64_t id;
	uint32_t pid;
	uint32_t flags;
	struct l_notif_data data;
};

struct l_notif_resp {
	uint64_t id;
	int64_t val;
	int32_t error;
	uint32_t flags;
};

struct l_notif_sizes {
	uint16_t notif, resp, data;
};

#define L_IOC_RECV	_IOWR('!', 0, struct l_notif)
#define L_IOC_SEND	_IOWR('!', 1, struct l_notif_resp)
#define L_IOC_ID_VALID	_IOW('!', 2, uint64_t)
#define L_NOTIF_CONTINUE 1U
#define L_GET_NOTIF_SIZES 3
#define L_SIOCGSKNS	0x894C
#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd	438
#endif
#ifndef SPLICE_F_MOVE
#define SPLICE_F_MOVE 1
#define SPLICE_F_NONBLOCK 2
#define SPLICE_F_MORE 4
#endif

#define NOTIF_BUF	512		/* >= the kernel's struct seccomp_notif */
#define CAND_MAX	8		/* addresses tried for one destination */
#define FAKE_MAX	65536		/* names with an address of ours at once */
#define FAKE_TTL	60
#define NM_BUCKETS	4096
#define RESOLVE_TTL_MS	60000
#define RESOLVE_FAIL_TTL_MS 5000
#define RESOLVERS_MAX	8
#define CONNECT_MS	15000		/* one destination address */
#define ACCEPT_MS	10000		/* the app's socket reaching the relay listener */
#define HEAD_MS		30000		/* a proxy request's head */
#define DENY_RING	128
#define DENY_LOG_MS	250
#define DENY_TEXT	200
#define BG_DENY_MAX	64
#define ATTR_MAX	64
#define POOL_MAX	8
#define SELF_MS		30000		/* this machine's addresses, re-read */
#define PUMP_ROUNDS	16
#define PIPE_SIZE	(1 << 20)
#define CONNS_MAX	4096		/* connections in flight or open, per sandbox */
#define PARKED_MAX	4096		/* DNS queries waiting for resolutions */
#define DNSC_MAX	256		/* DNS over TCP connections */

enum kind {
	K_NOTIF = 1, K_RELAY, K_DNS_UDP, K_DNS_TCP, K_PROXY, K_RESOLVED, K_FWD, K_IN, K_UP,
	K_APP, K_DNSC
};

/* One fd in the epoll set. */
struct ev {
	int kind;
	int fd;
	uint32_t mask;
	bool added;
	void *obj;
};

struct addr {
	int family;
	uint8_t a[16];
};

/* A name we answered for: its address of ours (index), and what it resolves to. */
struct nm {
	char name[NPOL_NAME_MAX + 1];
	uint32_t idx;			/* 198.18.0.0 + 2 + idx */
	int status;			/* NM_* */
	struct addr addr[CAND_MAX];
	int naddr;
	int64_t until;			/* mono ms: the resolution is good until */
	struct rjob *job;		/* resolving now */
	struct nm *hnext;
};

enum { NM_UNKNOWN, NM_OK, NM_NX, NM_FAIL };

struct dnsc;

/* A DNS query waiting for a resolution. */
struct dnsq {
	struct dns_query q;
	struct sockaddr_storage from;	/* UDP */
	socklen_t fromlen;
	struct dnsc *tcp;		/* or TCP */
	struct dnsq *next;
};

struct conn;

struct rjob {
	struct nm *nm;
	char name[NPOL_NAME_MAX + 1];
	int gai;
	struct addr res[CAND_MAX];
	int nres;
	struct dnsq *queries;
	struct conn *conns;		/* through conn->wnext */
	struct rjob *next;		/* queued */
};

/* One end of a relayed connection: bytes read from it wait in its pipe for the other. */
struct end {
	struct ev ev;
	int pipe[2];
	size_t queued, cap;
	bool eof, shut;
	bool corked;			/* written with SPLICE_F_MORE, not pushed yet */
	char *pre;			/* to write into this end before relayed bytes (heap) */
	size_t prelen, preoff;
};

enum origin { O_CAPTURE, O_PROXY, O_FORWARD, O_ATTRIB };
enum cstate { C_NEW, C_RESOLVE, C_UPSTREAM, C_LOCAL, C_ACCEPT, C_HEAD, C_SOCKET, C_INSIDE,
	C_RELAY, C_FAILED, C_DEAD };

struct conn {
	int origin, state;
	struct end in, up;		/* in: a socket inside the sandbox; up: one out here */
	struct ev app;			/* capture: our copy of the app's socket, until answered */
	uint64_t notif_id;
	bool answered, blocking, upstream_ok;
	int app_family;
	uint16_t app_port;		/* its local port: how its relay socket is found */
	pid_t sid;			/* the session inside that asked (0: unknown) */
	char name[NPOL_NAME_MAX + 1];	/* "" for a bare address */
	struct addr dst;
	uint16_t port;
	char what[NPOL_NAME_MAX + 48];	/* name:port or address:port, for messages */
	struct addr cand[CAND_MAX];
	int ncand, icand;
	int err;			/* the destination's, once it failed */
	int64_t deadline;
	struct rjob *job;
	struct conn *wnext;		/* on job->conns */
	char *head;			/* proxy: the request head read so far (heap) */
	size_t hlen;
	bool connect_method;
	int fwd_port;			/* forward: the port inside */
	struct conn *next;
};

struct dnsc {
	struct ev ev;
	uint8_t buf[2 + 1024];
	size_t got;
	int pending;			/* queries parked on resolutions */
	bool dead;
	int64_t deadline;
	struct dnsc *next;
};

struct fwd {
	struct ev ev;
	int port_in, port_host;
	struct fwd *next;
};

struct denial {
	char text[DENY_TEXT];
	pid_t sid;
	unsigned count;
	bool taken;			/* by a command's result */
};

struct bgwatch {
	pid_t pid;
	int dirfd;
	int lines;
	struct bgwatch *next;
};

static struct {
	int ep;
	struct ev notif, relay4, relay6, dns_udp, dns_tcp, proxy, resolved;
	int netns;
	ino_t netns_ino;
	uint16_t relay4_port, relay6_port;
	int chan;
	char dir[PATH_MAX];
	void (*logf)(const char *fmt, ...);
	size_t notif_size;
	bool no_getfd_logged;
	/* policy */
	struct arena *pa, *ca;
	struct npol policy;
	struct local_netcfg cfg;
	/* names */
	struct nm *bucket[NM_BUCKETS];
	struct nm **byidx;
	uint32_t nidx, recycle;
	/* resolution */
	int rpipe[2];
	int nthreads;
	struct rjob *queue;
	/* connections */
	struct conn *conns;
	size_t nconns, nparked, ndnsc;
	struct dnsc *dnscs;
	struct fwd *fwds;
	int pool[2][POOL_MAX];		/* inside sockets: [0] IPv4, [1] IPv6 */
	int npool[2];
	bool pool_asked[2];
	/* this machine's addresses */
	struct addr self[64];
	int nself;
	int64_t self_at;
	/* refusals */
	struct denial deny[DENY_RING];
	size_t ndeny, deny_head;
	bool log_dirty;
	int64_t log_at;
	struct bgwatch *bgs;
	struct { uint16_t port; pid_t sid; } attr[ATTR_MAX];
	size_t attr_next;
} N = { .ep = -1 };

static void conn_kill(struct conn *c, bool reset);
static void conn_step(struct conn *c);
static void relay_pump(struct conn *c);

/* ---- small helpers ------------------------------------------------------------------- */

static void
ev_init(struct ev *e, int kind, int fd, void *obj)
{
	e->kind = kind;
	e->fd = fd;
	e->mask = 0;
	e->added = false;
	e->obj = obj;
}

static void
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

static void
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

static void
rst_close(struct ev *e)
{
	struct linger lg = { 1, 0 };

	if (e->fd >= 0)
		setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	ev_close(e);
}

static socklen_t
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
static bool
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

static bool
is_loopback(const struct addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 }, any6[16] = { 0 };

	if (a->family == AF_INET)
		return a->a[0] == 127 || (a->a[0] | a->a[1] | a->a[2] | a->a[3]) == 0;
	return memcmp(a->a, lo6, 16) == 0 || memcmp(a->a, any6, 16) == 0;
}

static bool
is_fake(const struct addr *a)
{
	return a->family == AF_INET && a->a[0] == 198 && (a->a[1] & 0xfe) == 18;
}

static void
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
static pid_t
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

/* ---- refusals ---------------------------------------------------------------------------- */

static void
bg_note(pid_t sid, const char *text)
{
	for (struct bgwatch *w = N.bgs; w != NULL; w = w->next) {
		char line[DENY_TEXT + 2];
		int fd, n;

		if (w->pid != sid || w->lines >= BG_DENY_MAX)
			continue;
		fd = openat(w->dirfd, "network_denied", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd < 0)
			return;
		n = snprintf(line, sizeof(line), "%s\n", text);
		(void)write(fd, line, (size_t)n);
		close(fd);
		w->lines++;
	}
}

static void
log_flush(void)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	struct buf b = { 0 };
	int fd;

	N.log_dirty = false;
	N.log_at = time_mono_ms();
	for (size_t i = 0; i < N.ndeny; i++) {
		const struct denial *d = &N.deny[(N.deny_head + DENY_RING - N.ndeny + i) % DENY_RING];

		if (d->count > 1)
			buf_printf(&b, NULL, "%s (%u times)\n", d->text, d->count);
		else
			buf_printf(&b, NULL, "%s\n", d->text);
	}
	snprintf(path, sizeof(path), "%s/network.log", N.dir);
	snprintf(tmp, sizeof(tmp), "%s/.network.log.tmp", N.dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		if (b.len > 0)
			(void)write(fd, b.p, b.len);
		close(fd);
		rename(tmp, path);
	}
	buf_fini(&b);
}

static void __attribute__((format(printf, 2, 3)))
refused(pid_t sid, const char *fmt, ...)
{
	char text[DENY_TEXT];
	struct denial *d = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* The same refusal again (a retry loop) is counted, not repeated. */
	for (size_t i = 0; i < N.ndeny && d == NULL; i++) {
		struct denial *x = &N.deny[(N.deny_head + DENY_RING - 1 - i) % DENY_RING];

		if (x->sid == sid && !x->taken && strcmp(x->text, text) == 0)
			d = x;
	}
	if (d != NULL) {
		d->count++;
	} else {
		d = &N.deny[N.deny_head];
		N.deny_head = (N.deny_head + 1) % DENY_RING;
		if (N.ndeny < DENY_RING)
			N.ndeny++;
		snprintf(d->text, sizeof(d->text), "%s", text);
		d->sid = sid;
		d->count = 1;
		d->taken = false;
		bg_note(sid, text);
	}
	N.log_dirty = true;
	if (time_mono_ms() - N.log_at >= DENY_LOG_MS)
		log_flush();
}

void
net_take_denied(pid_t sid, struct buf *out)
{
	for (size_t i = 0; i < N.ndeny; i++) {
		struct denial *d = &N.deny[(N.deny_head + DENY_RING - N.ndeny + i) % DENY_RING];

		if (d->sid != sid || sid <= 0 || d->taken)
			continue;
		d->taken = true;
		if (d->count > 1)
			buf_printf(out, NULL, "%s (%u times)\n", d->text, d->count);
		else
			buf_printf(out, NULL, "%s\n", d->text);
	}
}

void
net_watch_bg(pid_t pid, int dirfd)
{
	struct bgwatch *w = xcalloc(1, sizeof(*w));

	w->pid = pid;
	w->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (w->dirfd < 0) {
		free(w);
		return;
	}
	w->next = N.bgs;
	N.bgs = w;
}

void
net_unwatch_bg(pid_t pid)
{
	for (struct bgwatch **pp = &N.bgs, *w; (w = *pp) != NULL;) {
		if (w->pid == pid) {
			*pp = w->next;
			close(w->dirfd);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

/* ---- names and their addresses of ours ------------------------------------------------ */

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % NM_BUCKETS;
}

static struct nm *
nm_find(const char *name)
{
	for (struct nm *m = N.bucket[name_hash(name)]; m != NULL; m = m->hnext)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void
nm_unlink(struct nm *m)
{
	for (struct nm **pp = &N.bucket[name_hash(m->name)]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == m) {
			*pp = m->hnext;
			return;
		}
	}
}

/* The name's entry, made with an address of ours when new (the oldest is reused once
 * FAKE_MAX names have one; one still resolving is skipped). */
static struct nm *
nm_get(const char *name)
{
	struct nm *m = nm_find(name);
	uint32_t idx;

	if (m != NULL)
		return m;
	if (N.byidx == NULL)
		N.byidx = xcalloc(FAKE_MAX, sizeof(*N.byidx));
	if (N.nidx < FAKE_MAX) {
		idx = N.nidx++;
	} else {
		for (int tries = 0; tries < 16; tries++) {
			idx = N.recycle++ % FAKE_MAX;
			if (N.byidx[idx] == NULL || N.byidx[idx]->job == NULL)
				break;
		}
		if (N.byidx[idx] != NULL) {
			if (N.byidx[idx]->job != NULL)
				return NULL;
			nm_unlink(N.byidx[idx]);
			free(N.byidx[idx]);
		}
	}
	m = xcalloc(1, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->idx = idx;
	N.byidx[idx] = m;
	m->hnext = N.bucket[name_hash(name)];
	N.bucket[name_hash(name)] = m;
	return m;
}

static void
nm_addr(const struct nm *m, uint8_t out[4])
{
	uint32_t v = (198u << 24 | 18u << 16) + 2 + m->idx;

	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

static const struct nm *
nm_of_addr(const struct addr *a)
{
	uint32_t v = (uint32_t)a->a[0] << 24 | (uint32_t)a->a[1] << 16 | (uint32_t)a->a[2] << 8 |
	    a->a[3], idx = v - ((198u << 24 | 18u << 16) + 2);

	if (!is_fake(a) || v < ((198u << 24 | 18u << 16) + 2) || idx >= N.nidx || N.byidx == NULL)
		return NULL;
	return N.byidx[idx];
}

/* ---- this machine's addresses --------------------------------------------------------- */

static void
self_refresh(void)
{
	struct ifaddrs *ifa, *i;

	if (N.self_at != 0 && time_mono_ms() - N.self_at < SELF_MS)
		return;
	N.self_at = time_mono_ms();
	if (getifaddrs(&ifa) != 0)
		return;
	N.nself = 0;
	for (i = ifa; i != NULL && N.nself < 64; i = i->ifa_next) {
		struct addr *a = &N.self[N.nself];

		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a->family = AF_INET;
			memcpy(a->a, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
			N.nself++;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a->family = AF_INET6;
			memcpy(a->a, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
			N.nself++;
		}
	}
	freeifaddrs(ifa);
}

/* Why an address is refused whatever the policies say (NULL: it is not). */
static const char *
always_refused(const struct addr *a)
{
	const char *why = npol_addr_class(a->family, a->a);

	if (why == NULL) {
		self_refresh();
		for (int i = 0; i < N.nself && why == NULL; i++)
			if (N.self[i].family == a->family &&
			    memcmp(N.self[i].a, a->a, a->family == AF_INET ? 4 : 16) == 0)
				why = "this machine's";
	}
	if (why != NULL && npol_opened(&N.cfg.ceiling, a->family, a->a))
		return NULL;
	return why;
}

/* ---- resolution ------------------------------------------------------------------------- */

static void *
resolver_main(void *arg)
{
	struct rjob *j = arg;
	struct addrinfo hints, *res = NULL, *r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	j->gai = getaddrinfo(j->name, NULL, &hints, &res);
	for (r = res; j->gai == 0 && r != NULL && j->nres < CAND_MAX; r = r->ai_next) {
		struct addr a;
		uint16_t port;
		bool dup = false;

		if (!sa_read((const struct sockaddr_storage *)(void *)r->ai_addr, r->ai_addrlen, &a,
		    &port))
			continue;
		for (int k = 0; k < j->nres && !dup; k++)
			dup = memcmp(&j->res[k], &a, sizeof(a)) == 0;
		if (!dup)
			j->res[j->nres++] = a;
	}
	if (res != NULL)
		freeaddrinfo(res);
	(void)write(N.rpipe[1], &j, sizeof(j));	/* PIPE_BUF-atomic */
	return NULL;
}

static void
resolver_start(struct rjob *j)
{
	pthread_attr_t at;
	pthread_t t;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	if (pthread_create(&t, &at, resolver_main, j) == 0) {
		N.nthreads++;
	} else {
		j->gai = EAI_AGAIN;
		(void)write(N.rpipe[1], &j, sizeof(j));
	}
	pthread_attr_destroy(&at);
}

/* The job resolving m (started or queued). */
static struct rjob *
resolve(struct nm *m)
{
	struct rjob *j;

	if (m->job != NULL)
		return m->job;
	j = xcalloc(1, sizeof(*j));
	j->nm = m;
	snprintf(j->name, sizeof(j->name), "%s", m->name);
	m->job = j;
	if (N.nthreads < RESOLVERS_MAX) {
		resolver_start(j);
	} else {
		struct rjob **pp = &N.queue;

		while (*pp != NULL)
			pp = &(*pp)->next;
		*pp = j;
	}
	return j;
}

static void dns_answer(struct dns_query *q, const struct sockaddr_storage *from,
    socklen_t fromlen, struct dnsc *tcp);
static void dnsc_release(struct dnsc *d);

static void
on_resolved(void)
{
	struct rjob *j;

	while (read(N.rpipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j)) {
		struct nm *m = j->nm;

		if (N.nthreads > 0)
			N.nthreads--;
		if (N.queue != NULL) {
			struct rjob *next = N.queue;

			N.queue = next->next;
			resolver_start(next);
		}
		m->job = NULL;
		m->naddr = j->nres;
		memcpy(m->addr, j->res, sizeof(m->addr));
		if (j->gai == 0 && j->nres > 0) {
			m->status = NM_OK;
			m->until = time_mono_ms() + RESOLVE_TTL_MS;
		} else {
			m->status = j->gai == EAI_NONAME || j->gai == EAI_NODATA ||
			    (j->gai == 0 && j->nres == 0) ? NM_NX : NM_FAIL;
			m->until = time_mono_ms() + RESOLVE_FAIL_TTL_MS;
		}
		while (j->queries != NULL) {
			struct dnsq *q = j->queries;

			j->queries = q->next;
			if (q->tcp == NULL || !q->tcp->dead)
				dns_answer(&q->q, &q->from, q->fromlen, q->tcp);
			if (q->tcp != NULL)
				dnsc_release(q->tcp);
			free(q);
			N.nparked--;
		}
		while (j->conns != NULL) {
			struct conn *c = j->conns;

			j->conns = c->wnext;
			c->job = NULL;
			if (c->state == C_RESOLVE)
				conn_step(c);
		}
		free(j);
	}
}

/* ---- judging ---------------------------------------------------------------------------- */

enum { V_ALLOW, V_DENY, V_WAIT, V_NX };

/* A policy's word on a name alone: 1 allow, 0 deny (rule named in *rule), -1 it depends on
 * the addresses. */
static int
by_name(const struct npol *p, const char *name, const struct npol_rule **rule)
{
	const struct npol_rule *r = npol_match_name(p, name);

	*rule = r;
	if (r != NULL)
		return r->allow;
	for (size_t i = 0; i < p->n; i++)
		if (p->rules[i].kind == NPOL_ADDR)
			return -1;
	return p->allow ? -1 : 0;
}

/* A policy's word on an address: true to allow; else why names the reason. */
static bool
by_addr(const struct npol *p, bool ceiling, const struct addr *a, char *why, size_t cap)
{
	const struct npol_rule *r = npol_match_addr(p, a->family, a->a);

	if (r != NULL && r->allow)
		return true;
	if (r == NULL && p->allow)
		return true;
	if (ceiling)
		snprintf(why, cap, "outside the operator's egress ceiling (--local-egress)");
	else if (r != NULL)
		snprintf(why, cap, "denied by the rule %.100s", r->target);
	else
		snprintf(why, cap, "not in the allow list");
	return false;
}

static bool
port_opened(uint16_t port)
{
	for (size_t i = 0; i < N.cfg.nhost_ports; i++)
		if (N.cfg.host_ports[i] == port)
			return true;
	return false;
}

static const struct local_pin *
pin_of(const char *name)
{
	for (size_t i = 0; i < N.cfg.npins; i++)
		if (strcmp(N.cfg.pins[i].name, name) == 0)
			return &N.cfg.pins[i];
	return NULL;
}

static void
cand_add(struct conn *c, int family, const uint8_t *a)
{
	if (c->ncand < CAND_MAX) {
		c->cand[c->ncand].family = family;
		memcpy(c->cand[c->ncand].a, a, family == AF_INET ? 4 : 16);
		c->ncand++;
	}
}

/*
 * Whether c may go out, and where to (c->cand). known: judge against this one address
 * instead of resolving (an open connection, re-judged after a policy change). V_WAIT:
 * c waits on a resolution (c->job). why gets the reason of V_DENY and V_NX.
 */
static int
judge(struct conn *c, const struct addr *known, char *why, size_t cap)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	const struct npol_rule *rc, *rp;
	const struct local_pin *pin;
	const char *first = NULL;
	struct addr firstaddr;
	char r[160] = "";
	int vc, vp;
	struct nm *m = NULL;

	c->ncand = c->icand = 0;
	if (c->name[0] == '\0') {
		const char *cls = always_refused(&c->dst);

		if (cls != NULL) {
			snprintf(why, cap, "%s %s address", c->what, cls);
			return V_DENY;
		}
		if (!by_addr(&N.cfg.ceiling, true, &c->dst, r, sizeof(r)) ||
		    !by_addr(&N.policy, false, &c->dst, r, sizeof(r))) {
			snprintf(why, cap, "%s %s", c->what, r);
			return V_DENY;
		}
		cand_add(c, c->dst.family, c->dst.a);
		return V_ALLOW;
	}
	/* host.internal: the operator opened its ports (the ceiling does not apply), but the
	 * sandbox's own policy may still deny it. */
	vp = by_name(&N.policy, c->name, &rp);
	if (strcmp(c->name, LOCAL_HOST_NAME) == 0) {
		if (!port_opened(c->port)) {
			snprintf(why, cap, "%s not opened to sandboxes (the operator opens this "
			    "machine's ports with --local-host-port)", c->what);
			return V_DENY;
		}
		if (rp != NULL ? !rp->allow : !N.policy.allow) {
			if (rp != NULL)
				snprintf(why, cap, "%s denied by the rule %.100s", c->what, rp->target);
			else
				snprintf(why, cap, "%s not in the allow list", c->what);
			return V_DENY;
		}
		cand_add(c, AF_INET, lo4);
		return V_ALLOW;
	}
	vc = by_name(&N.cfg.ceiling, c->name, &rc);
	if (vc == 0) {
		snprintf(why, cap, "%s outside the operator's egress ceiling (--local-egress)",
		    c->what);
		return V_DENY;
	}
	if (vp == 0) {
		if (rp != NULL)
			snprintf(why, cap, "%s denied by the rule %.100s", c->what, rp->target);
		else
			snprintf(why, cap, "%s not in the allow list", c->what);
		return V_DENY;
	}
	pin = pin_of(c->name);
	if (pin != NULL) {
		struct addr a = { pin->family, { 0 } };

		memcpy(a.a, pin->addr, sizeof(a.a));
		if ((vc < 0 && !by_addr(&N.cfg.ceiling, true, &a, r, sizeof(r))) ||
		    (vp < 0 && !by_addr(&N.policy, false, &a, r, sizeof(r)))) {
			snprintf(why, cap, "%s %s", c->what, r);
			return V_DENY;
		}
		cand_add(c, pin->family, pin->addr);
		return V_ALLOW;
	}
	if (known == NULL) {
		m = nm_get(c->name);
		if (m == NULL) {
			snprintf(why, cap, "%s could not be resolved (too many names)", c->what);
			return V_NX;
		}
		if (m->status == NM_UNKNOWN || time_mono_ms() >= m->until) {
			c->job = resolve(m);
			c->wnext = c->job->conns;
			c->job->conns = c;
			return V_WAIT;
		}
		if (m->status != NM_OK) {
			snprintf(why, cap, "%s %s", c->what, m->status == NM_NX ?
			    "does not resolve (no such name)" : "could not be resolved (DNS failed)");
			return V_NX;
		}
	}
	for (int i = 0; i < (known != NULL ? 1 : m->naddr); i++) {
		const struct addr *a = known != NULL ? known : &m->addr[i];
		const char *cls = always_refused(a);

		if (cls != NULL) {
			if (first == NULL) {
				first = cls;
				firstaddr = *a;
			}
			continue;
		}
		if ((vc < 0 && !by_addr(&N.cfg.ceiling, true, a, r, sizeof(r))) ||
		    (vp < 0 && !by_addr(&N.policy, false, a, r, sizeof(r))))
			continue;
		cand_add(c, a->family, a->a);
	}
	if (c->ncand > 0)
		return V_ALLOW;
	if (first != NULL) {
		char as[64];

		npol_addr_str(firstaddr.family, firstaddr.a, 0, as, sizeof(as));
		snprintf(why, cap, "%s resolves to %s %s address (%s)", c->what,
		    first[0] == 'u' || first[0] == 'e' ? "an" : "a", first, as);
	} else {
		snprintf(why, cap, "%s %s", c->what, r[0] != '\0' ? r : "not in the allow list");
	}
	return V_DENY;
}

/* ---- connections ------------------------------------------------------------------------ */

static struct conn *
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
static void
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

/* The proxy's answer to a request it will not forward, then the end. */
static void
proxy_fail(struct conn *c, int status, const char *reason)
{
	char msg[512];
	const char *st = status == 403 ? "Forbidden" : status == 502 ? "Bad Gateway" :
	    status == 504 ? "Gateway Timeout" : status == 501 ? "Not Implemented" :
	    status == 405 ? "Method Not Allowed" : status == 431 ?
	    "Request Header Fields Too Large" : status == 414 ? "URI Too Long" : "Bad Request";
	int body = (int)strlen(reason) + 14, n;

	n = snprintf(msg, sizeof(msg), "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %d\r\nConnection: close\r\nX-Sandbox-Refused: %s\r\n\r\n"
	    "sandbox-mcp: %s\n", status, st, body, reason, reason);
	if (n > 0 && c->in.ev.fd >= 0)
		(void)send(c->in.ev.fd, msg, (size_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_kill(c, false);
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
		conn_kill(c, false);	/* the blocking connect fails with err */
	} else if (c->in.ev.fd >= 0) {
		conn_kill(c, true);
	} else {
		c->state = C_FAILED;	/* reset the relay socket when it arrives */
		c->deadline = deadline_in_ms(ACCEPT_MS);
	}
}

static void
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
app_connect(struct conn *c, const uint8_t *a4, const uint8_t *a6, uint16_t port4,
    uint16_t port6)
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

static void
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
static void
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
static void
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
			close(fd);	/* someone inside connected to it directly */
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

static void
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
	static bool old_dir;	/* kernels before 5.7 know the request as _IOR */

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

static pid_t
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
			N.logf("net: cannot read a sandbox process's memory (%s; a ptrace policy?): "
			    "connections other than through the proxy fail", strerror(errno));
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
		notif_reply(n->id, EAGAIN, false);	/* as when no local port is free */
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
			    "other than through the proxy fail", strerror(errno));
		}
		notif_reply(n->id, 0, true);
		return;
	}
	c = conn_new(local != 0 && (type == SOCK_STREAM || type == SOCK_DGRAM) ? O_ATTRIB :
	    O_CAPTURE);
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
		refused(c->sid, "%s: an unknown address of the sandbox's DNS (look the name up "
		    "again)", c->what);
		c->err = EHOSTUNREACH;
		conn_kill(c, false);
		return;
	}
	conn_step(c);
}

static void
on_notif(void)
{
	union {
		struct l_notif n;
		uint8_t raw[NOTIF_BUF];		/* the kernel's may be larger than ours */
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
static void
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

/* ---- DNS ------------------------------------------------------------------------------------ */

static void
dns_send(const uint8_t *msg, size_t len, const struct sockaddr_storage *from,
    socklen_t fromlen, struct dnsc *tcp)
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

static void
dns_answer(struct dns_query *q, const struct sockaddr_storage *from, socklen_t fromlen,
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
			nm_addr(m, a4[0]);	/* judged (and refused or not) at connect */
			n = q->qtype == DNS_T_A;
		} else if (m->status == NM_UNKNOWN || time_mono_ms() >= m->until) {
			struct rjob *j;
			struct dnsq *w;

			if (N.nparked >= PARKED_MAX)
				return;		/* dropped: the resolver asks again */
			j = resolve(m);
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
	len = dns_reply(q, rcode, (const uint8_t (*)[4])a4, (size_t)n, FAKE_TTL, out,
	    sizeof(out));
	if (len > 0)
		dns_send(out, len, from, fromlen, tcp);
}

static void
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
			dns_answer(&q, &from, fl, NULL);
	}
}

static void
dnsc_release(struct dnsc *d)
{
	if (d->pending > 0)
		d->pending--;
}

static void
dnsc_close(struct dnsc *d)
{
	ev_close(&d->ev);
	d->dead = true;
}

static void
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
			dns_answer(&q, NULL, 0, d);
		memmove(d->buf, d->buf + 2 + len, d->got - 2 - len);
		d->got -= 2 + len;
	}
}

static void
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

/* ---- the proxy ------------------------------------------------------------------------------ */

static void
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

static void
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

/* ---- forwards (sandbox_url) ----------------------------------------------------------------- */

static void
pool_ask(int fi)
{
	if (N.pool_asked[fi] || N.chan < 0)
		return;
	N.pool_asked[fi] = wire_send(N.chan, I_SOCKET, 0, fi == 0 ? AF_INET : AF_INET6,
	    POOL_MAX, 0, NULL, 0, NULL, 0) == 0;
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

static void
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
		dst->allow = false;	/* no room for the rules: fail closed */
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
		refused(c->sid, "%s closed: %s", c->what, why + strlen(c->what) +
		    (strncmp(why, c->what, strlen(c->what)) == 0 && why[strlen(c->what)] == ' '));
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
