/*
 * judge.c -- what a sandbox's connections may reach, and the record of what they could
 * not; part of the sandbox's network (net.c has the map).
 *
 * Owns the names we answered for, each with an address of ours in 198.18.0.0/15 (FAKE_MAX
 * at once, the oldest reused), this machine's addresses (re-read after SELF_MS), the
 * resolver threads (RESOLVERS_MAX at once, more queued) and the refusals: a ring of
 * DENY_RING for commands' results (net_take_denied), <dir>/network.log (rewritten at most
 * every DENY_LOG_MS) and a watched background command's network_denied (BG_DENY_MAX
 * lines). judge() decides; it never blocks: a name not resolved yet parks the connection
 * on the resolution's job. The supervisor's thread only, but for resolver_main, which
 * touches only its job and writes it to N.rpipe.
 */
#include "backends/local/net_internal.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/time.h"
/* ---- refusals ---------------------------------------------------------------------------- */

static void
bg_note(pid_t sid, const char *text)
{
	for (struct bgwatch *w = N.bgs; w != NULL; w = w->next) {
		char line[DENY_TEXT + 2];
		int fd, n;

		if (w->pid != sid || w->lines >= BG_DENY_MAX)
			continue;
		fd = openat(w->dirfd, "network_denied",
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return;
		n = snprintf(line, sizeof(line), "%s\n", text);
		(void)write(fd, line, (size_t)n);
		close(fd);
		w->lines++;
	}
}

void
log_flush(void)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	struct buf b = { 0 };
	int fd;

	N.log_dirty = false;
	N.log_at = time_mono_ms();
	for (size_t i = 0; i < N.ndeny; i++) {
		const struct denial
		    *d = &N.deny[(N.deny_head + DENY_RING - N.ndeny + i) % DENY_RING];

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

void __attribute__((format(printf, 2, 3))) refused(pid_t sid, const char *fmt, ...)
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
struct nm *
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

void
nm_addr(const struct nm *m, uint8_t out[4])
{
	uint32_t v = (198u << 24 | 18u << 16) + 2 + m->idx;

	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

const struct nm *
nm_of_addr(const struct addr *a)
{
	uint32_t v = (uint32_t)a->a[0] << 24 | (uint32_t)a->a[1] << 16 | (uint32_t)a->a[2] << 8 |
	    a->a[3],
	         idx = v - ((198u << 24 | 18u << 16) + 2);

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
	(void)write(N.rpipe[1], &j, sizeof(j)); /* PIPE_BUF-atomic */
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
struct rjob *
nm_resolve(struct nm *m)
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

void
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
			        (j->gai == 0 && j->nres == 0)
			    ? NM_NX
			    : NM_FAIL;
			m->until = time_mono_ms() + RESOLVE_FAIL_TTL_MS;
		}
		while (j->queries != NULL) {
			struct dnsq *q = j->queries;

			j->queries = q->next;
			if (q->tcp == NULL || !q->tcp->dead)
				dnsd_answer(&q->q, &q->from, q->fromlen, q->tcp);
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

/* A policy's word on a name alone: 1 allow, 0 deny (rule named in *rule), -1 it depends on
 * the addresses. */
int
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

const struct local_pin *
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
int
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
			snprintf(why, cap,
			    "%s not opened to sandboxes (the operator opens this "
			    "machine's ports with --local-host-port)",
			    c->what);
			return V_DENY;
		}
		if (rp != NULL ? !rp->allow : !N.policy.allow) {
			if (rp != NULL)
				snprintf(why, cap, "%s denied by the rule %.100s", c->what,
				    rp->target);
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
			c->job = nm_resolve(m);
			c->wnext = c->job->conns;
			c->job->conns = c;
			return V_WAIT;
		}
		if (m->status != NM_OK) {
			snprintf(why, cap, "%s %s", c->what,
			    m->status == NM_NX ? "does not resolve (no such name)"
			                       : "could not be resolved (DNS failed)");
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
