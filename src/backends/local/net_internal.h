/*
 * net_internal.h -- what the files of a sandbox's network share (net.c, judge.c, relay.c,
 * dnsd.c, proxy.c); only they include it. net.c's top comment is the map of the whole,
 * internal.h's net section the contract with the supervisor.
 *
 * N is the one network state of a supervisor process: net.c defines it and fills it in
 * net_start. Every record hanging off it (names, resolution jobs, connections, DNS clients,
 * forwards) is owned through it: connections and DNS clients are marked dead where they
 * end and freed by net.c after each round of the loop, so a record stays valid for the
 * rest of the round. Errors reach the app as the errno of its connect() (conn->err) or a
 * reset, and the user as refusals (refused()). The supervisor's thread only, but the
 * resolver threads (judge.c), which touch only their own struct rjob.
 */
#ifndef BACKENDS_LOCAL_NET_INTERNAL_H
#define BACKENDS_LOCAL_NET_INTERNAL_H

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "backends/local/internal.h"

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

#define L_IOC_RECV        _IOWR('!', 0, struct l_notif)
#define L_IOC_SEND        _IOWR('!', 1, struct l_notif_resp)
#define L_IOC_ID_VALID    _IOW('!', 2, uint64_t)
#define L_NOTIF_CONTINUE  1U
#define L_GET_NOTIF_SIZES 3
#define L_SIOCGSKNS       0x894C
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SPLICE_F_MOVE
#define SPLICE_F_MOVE     1
#define SPLICE_F_NONBLOCK 2
#define SPLICE_F_MORE     4
#endif

#define NOTIF_BUF           512   /* >= the kernel's struct seccomp_notif */
#define CAND_MAX            8     /* addresses tried for one destination */
#define FAKE_MAX            65536 /* names with an address of ours at once */
#define FAKE_TTL            60
#define NM_BUCKETS          4096
#define RESOLVE_TTL_MS      60000
#define RESOLVE_FAIL_TTL_MS 5000
#define RESOLVERS_MAX       8
#define CONNECT_MS          15000 /* one destination address */
#define ACCEPT_MS           10000 /* the app's socket reaching the relay listener */
#define HEAD_MS             30000 /* a proxy request's head */
#define DENY_RING           128
#define DENY_LOG_MS         250
#define DENY_TEXT           200
#define BG_DENY_MAX         64
#define ATTR_MAX            64
#define POOL_MAX            8
#define SELF_MS             30000 /* this machine's addresses, re-read */
#define PUMP_ROUNDS         16
#define PIPE_SIZE           (1 << 20)
#define CONNS_MAX           4096 /* connections in flight or open, per sandbox */
#define PARKED_MAX          4096 /* DNS queries waiting for resolutions */
#define DNSC_MAX            256  /* DNS over TCP connections */

enum kind {
	K_NOTIF = 1,
	K_RELAY,
	K_DNS_UDP,
	K_DNS_TCP,
	K_PROXY,
	K_RESOLVED,
	K_FWD,
	K_IN,
	K_UP,
	K_APP,
	K_DNSC
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
	uint32_t idx; /* 198.18.0.0 + 2 + idx */
	int status;   /* NM_* */
	struct addr addr[CAND_MAX];
	int naddr;
	int64_t until;    /* mono ms: the resolution is good until */
	struct rjob *job; /* resolving now */
	struct nm *hnext;
};

enum { NM_UNKNOWN, NM_OK, NM_NX, NM_FAIL };

struct dnsc;

/* A DNS query waiting for a resolution. */
struct dnsq {
	struct dns_query q;
	struct sockaddr_storage from; /* UDP */
	socklen_t fromlen;
	struct dnsc *tcp; /* or TCP */
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
	struct conn *conns; /* through conn->wnext */
	struct rjob *next;  /* queued */
};

/* One end of a relayed connection: bytes read from it wait in its pipe for the other. */
struct end {
	struct ev ev;
	int pipe[2];
	size_t queued, cap;
	bool eof, shut;
	bool corked; /* written with SPLICE_F_MORE, not pushed yet */
	char *pre;   /* to write into this end before relayed bytes (heap) */
	size_t prelen, preoff;
};

enum origin { O_CAPTURE, O_PROXY, O_FORWARD, O_ATTRIB };
enum cstate {
	C_NEW,
	C_RESOLVE,
	C_UPSTREAM,
	C_LOCAL,
	C_ACCEPT,
	C_HEAD,
	C_SOCKET,
	C_INSIDE,
	C_RELAY,
	C_FAILED,
	C_DEAD
};

struct conn {
	int origin, state;
	struct end in, up; /* in: a socket inside the sandbox; up: one out here */
	struct ev app;     /* capture: our copy of the app's socket, until answered */
	uint64_t notif_id;
	bool answered, blocking, upstream_ok;
	int app_family;
	uint16_t app_port;            /* its local port: how its relay socket is found */
	pid_t sid;                    /* the session inside that asked (0: unknown) */
	char name[NPOL_NAME_MAX + 1]; /* "" for a bare address */
	struct addr dst;
	uint16_t port;
	char what[NPOL_NAME_MAX + 48]; /* name:port or address:port, for messages */
	struct addr cand[CAND_MAX];
	int ncand, icand;
	int err; /* the destination's, once it failed */
	int64_t deadline;
	struct rjob *job;
	struct conn *wnext; /* on job->conns */
	char *head;         /* proxy: the request head read so far (heap) */
	size_t hlen;
	bool connect_method;
	int fwd_port; /* forward: the port inside */
	struct conn *next;
};

struct dnsc {
	struct ev ev;
	uint8_t buf[2 + 1024];
	size_t got;
	int pending; /* queries parked on resolutions */
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
	bool taken; /* by a command's result */
};

struct bgwatch {
	pid_t pid;
	int dirfd;
	int lines;
	struct bgwatch *next;
};

/* The network of this supervisor's sandbox (one per process), defined in net.c. */
struct net_state {
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
	int pool[2][POOL_MAX]; /* inside sockets: [0] IPv4, [1] IPv6 */
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
	struct {
		uint16_t port;
		pid_t sid;
	} attr[ATTR_MAX];
	size_t attr_next;
};

extern struct net_state N;

/* ---- net.c: small helpers --------------------------------------------------------------- */

void ev_init(struct ev *e, int kind, int fd, void *obj);
/* Adds e to the epoll set, or changes what it waits for (0: nothing, still added). */
void ev_set(struct ev *e, uint32_t mask);
void ev_close(struct ev *e);
/* Closes with a reset (SO_LINGER 0). */
void rst_close(struct ev *e);
socklen_t sa_make(struct sockaddr_storage *ss, int family, const uint8_t *a, uint16_t port);
bool sa_read(const struct sockaddr_storage *ss, socklen_t len, struct addr *a, uint16_t *port);
/* 127.0.0.0/8, ::1 or an unspecified address: inside, these reach only the sandbox. */
bool is_loopback(const struct addr *a);
/* An address of ours (198.18.0.0/15), given for a name by the DNS server. */
bool is_fake(const struct addr *a);
/* c->what from its name or address, and its port. */
void what_set(struct conn *c);
pid_t session_of(pid_t pid);

/* ---- judge.c: refusals, names, resolution, judging ------------------------------------ */

/* Writes <dir>/network.log now. */
void log_flush(void);
/* Records a refusal for session sid (0: unknown). */
void refused(pid_t sid, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct nm *nm_get(const char *name);
void nm_addr(const struct nm *m, uint8_t out[4]);
/* The name an address of ours was given for; NULL if none. */
const struct nm *nm_of_addr(const struct addr *a);
struct rjob *nm_resolve(struct nm *m);
/* Finished jobs (N.rpipe): answers their parked queries and steps their connections. */
void on_resolved(void);
int by_name(const struct npol *p, const char *name, const struct npol_rule **rule);
const struct local_pin *pin_of(const char *name);

enum { V_ALLOW, V_DENY, V_WAIT, V_NX };

int judge(struct conn *c, const struct addr *known, char *why, size_t cap);

/* ---- relay.c: connections, the relay, capture, forwards ------------------------------- */

/* A new connection (C_NEW), on N.conns. */
struct conn *conn_new(int origin);
void conn_kill(struct conn *c, bool reset);
void conn_step(struct conn *c);
/* Connects out to c's next candidate address, or fails c when none is left. */
void upstream_next(struct conn *c);
void relay_start(struct conn *c);
void relay_pump(struct conn *c);
void on_relay_accept(struct ev *l);
/* The session whose socket of local port port connected to the proxy (0: unknown). */
pid_t attr_find(uint16_t port);
void on_notif(void);
void on_app(struct conn *c);
void on_fwd_accept(struct fwd *f);

/* ---- dnsd.c: the DNS server ---------------------------------------------------------- */

/* Answers q now, or parks it on a resolution; from/fromlen for UDP, tcp for TCP. */
void dnsd_answer(struct dns_query *q, const struct sockaddr_storage *from, socklen_t fromlen,
    struct dnsc *tcp);
/* One of d's parked queries is done. */
void dnsc_release(struct dnsc *d);
void dnsc_close(struct dnsc *d);
void on_dns_udp(void);
void on_dns_accept(void);
void on_dnsc(struct dnsc *d);

/* ---- proxy.c: the HTTP proxy ----------------------------------------------------------- */

void proxy_fail(struct conn *c, int status, const char *reason);
void on_proxy_accept(void);
void on_proxy_head(struct conn *c);

#endif
