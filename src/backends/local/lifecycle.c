/*
 * lifecycle.c -- the sandbox ops of the local backend: create, list, info, kill, pause,
 * resume, timeout, url, metrics and network policy.
 *
 * A sandbox is created complete or not at all: its directory, meta.json and a running,
 * verified supervisor and init, under the sandbox's lock so no other thread starts a second
 * supervisor meanwhile. Killing renames the directory away first (so nothing new can start
 * in it), then asks the supervisor to end every process, and falls back to killing init
 * and the cgroup itself when the supervisor does not answer.
 */
#include "backends/local/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/common/wait.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#define LOCAL_DEFAULT_TIMEOUT_S (24 * 3600) /* local resources are cheap; losing work is not */
#define LOCAL_LIST_DEFAULT      100
#define LOCAL_LIST_MAX          1000
#define LOCAL_KILL_WAIT_MS      5000

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

/* ---- info ------------------------------------------------------------------------------- */

static const char *
limit_text(struct arena *a, const char *value, const char *by)
{
	if (value == NULL)
		return "not limited";
	if (by == NULL || *by == '\0')
		return arena_printf(a, "%s, not enforced", value);
	return arena_printf(a, "%s, enforced by %s", value, by);
}

static void
limits_fill(const struct lsb *sb, struct sb_info *out, struct arena *a)
{
	struct kv *kv = arena_zalloc(a, 3 * sizeof(*kv));
	char mem[32], cpu[32], pids[32];
	const struct lsup *s = sb->has_sup ? &sb->sup : NULL;

	if (kv == NULL || !sb->isolate)
		return;
	limits_format_memory(sb->lim.memory, mem, sizeof(mem));
	limits_format_cpu(sb->lim.cpu_milli, cpu, sizeof(cpu));
	snprintf(pids, sizeof(pids), "%lld processes", (long long)sb->lim.pids);
	kv[0].key = "memory";
	kv[0].value = limit_text(a, sb->lim.memory > 0 ? mem : NULL, s ? s->memory_by : NULL);
	kv[1].key = "cpu";
	kv[1].value = limit_text(a, sb->lim.cpu_milli > 0 ? cpu : NULL, s ? s->cpu_by : NULL);
	kv[2].key = "pids";
	kv[2].value = limit_text(a, sb->lim.pids > 0 ? pids : NULL, s ? s->pids_by : NULL);
	out->limits = kv;
	out->nlimits = 3;
}

/* One phrase for the sandbox's network, for its note. */
static const char *
net_summary(const struct local *L, const struct npol *p, struct arena *a)
{
	const struct npol *cl = &L->net.ceiling;
	const char *own, *cap = "";

	if (p->allow)
		own = p->n > 0 ? arena_printf(a, "the public internet but %zu rule%s", p->n,
		                     p->n == 1 ? "" : "s")
		               : "the public internet";
	else if (p->n > 0)
		own = arena_printf(a, "only what %zu rule%s allow%s", p->n, p->n == 1 ? "" : "s",
		    p->n == 1 ? "s" : "");
	else
		own = "nothing (egress denied)";
	if (!cl->allow)
		cap = cl->n > 0 ? "; the operator allows only a list (--local-egress)"
		                : "; the operator denies egress (--local-egress deny)";
	return arena_printf(a,
	    "its own namespace; egress to %s, through a relay that refuses "
	    "this machine and private networks%s; refused connections are reported in "
	    "network_denied",
	    own, cap);
}

static const char *
note_of(const struct local *L, const struct lsb *sb, struct arena *a)
{
	char ws[PATH_MAX];
	int abi = sb->has_sup ? sb->sup.landlock_abi : 0;

	if (!sb->isolate) {
		store_path(ws, sb, "workspace");
		return arena_printf(a,
		    "NO ISOLATION (--local-isolation none): commands run "
		    "directly on this machine as %s, with its files and network (only seccomp "
		    "applies); the working directory is %s.",
		    L->host_user, ws);
	}
	return arena_printf(a,
	    "Isolated local sandbox: commands run as %s in /workspace with "
	    "no capabilities, under seccomp%s; only /workspace, /tmp and /home/%s are "
	    "writable%s, and nothing else of this machine but its system files is visible. "
	    "Network: %s.",
	    L->user, abi > 0 ? arena_printf(a, " and Landlock (ABI %d)", abi) : "", L->user,
	    L->nmounts > 0 ? " (plus the operator's --mount directories)" : "",
	    net_summary(L, &sb->net, a));
}

static void
info_fill(const struct local *L, const struct lsb *sb, struct sb_info *out, struct arena *a)
{
	memset(out, 0, sizeof(*out));
	out->id = arena_strdup(a, sb->id);
	out->state = sb->paused ? "paused" : "running";
	out->template_name = sb->template_name != NULL ? sb->template_name : "local";
	out->created_at = sb->created_at;
	out->expires_at = sb->expires_at;
	out->metadata = sb->metadata;
	out->nmetadata = sb->nmetadata;
	out->cpu = sb->cpu;
	out->memory = sb->memory;
	out->note = note_of(L, sb, a);
	limits_fill(sb, out, a);
}

/* ---- create -------------------------------------------------------------------------------- */

static bool
template_ok(const char *t)
{
	return t == NULL || *t == '\0' || strcmp(t, "local") == 0 || strcmp(t, "default") == 0 ||
	    strcmp(t, "base") == 0;
}

static int
env_ok(const struct kv *kv, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i].key == NULL || kv[i].key[0] == '\0' || strchr(kv[i].key, '=') != NULL)
			return err_set(e, ERR_INVAL,
			    "environment variable name \"%.40s\" is invalid: "
			    "use a non-empty name without '='",
			    kv[i].key != NULL ? kv[i].key : "");
	return 0;
}

/* The limits a new sandbox gets: what was asked, else half of this machine's memory and
 * LIMITS_PIDS_DEFAULT processes. */
static int
limits_of(const struct local *L, const struct sb_create *req, struct lim *l, struct err *e)
{
	memset(l, 0, sizeof(*l));
	if (req->memory != NULL && *req->memory != '\0') {
		if (limits_parse_memory(req->memory, &l->memory, e) != 0)
			return e->code;
	} else if (L->mem_total > 0) {
		l->memory = L->mem_total / 2;
	}
	if (req->cpu != NULL && *req->cpu != '\0' &&
	    limits_parse_cpu(req->cpu, &l->cpu_milli, e) != 0)
		return e->code;
	l->pids = LIMITS_PIDS_DEFAULT;
	return 0;
}

static int
make_dirs(struct local *L, const struct lsb *sb, struct err *e)
{
	char path[PATH_MAX];

	if (mkdir(sb->dir, 0700) < 0)
		return err_set(e, ERR_IO, "cannot create %s: %s", sb->dir, strerror(errno));
	store_path(path, sb, "workspace");
	if (mkdir(path, 0755) < 0)
		return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
	if (L->host_root && L->uid != 0 && sb->isolate && chown(path, L->uid, L->gid) < 0)
		return err_set(e, ERR_IO, "cannot hand %s to the sandbox's user: %s", path,
		    strerror(errno));
	store_path(path, sb, "procs");
	if (mkdir(path, 0700) < 0)
		return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
	store_path(path, sb, "home"); /* HOME of isolation none; a tmpfs otherwise */
	if (!sb->isolate && mkdir(path, 0700) < 0)
		return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

static int
new_id(struct lsb *sb, const struct local *L, struct err *e)
{
	unsigned char rnd[6];
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return err_set(e, ERR_IO, "cannot create a sandbox id: getrandom: %s",
		    strerror(errno));
	snprintf(sb->id, sizeof(sb->id), "sbx-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	    rnd[3], rnd[4], rnd[5]);
	n = snprintf(sb->dir, sizeof(sb->dir), "%s/%s", L->root, sb->id);
	if (n < 0 || n >= (int)sizeof(sb->dir))
		return err_set(e, ERR_INVAL, "the local state directory path is too long");
	return 0;
}

static void sb_destroy(struct local *L, const struct lsb *sb);

/* A request's policy merged into *p, checked against what this server can enforce. */
static int
net_policy_of(const struct local *L, const struct net_policy *req, bool replace, struct npol *p,
    struct arena *a, struct err *e)
{
	if (npol_merge(p, req, replace, a, e) != 0)
		return e->code;
	if (!L->isolate && (!p->allow || p->n > 0))
		return err_set(e, ERR_UNSUPPORTED,
		    "with --local-isolation none commands use this "
		    "machine's network directly, so no egress policy can be enforced; use the "
		    "default isolation (namespaces)");
	return L->isolate ? npol_within(&L->net.ceiling, p, e) : 0;
}

int
local_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	const char *extra = "";
	int64_t now = time_wall_ms(), timeout_s = req->timeout_s;
	int rc, fd;

	if (!template_ok(req->template_name))
		return err_set(e, ERR_UNSUPPORTED,
		    "template \"%.60s\" is not available on the local "
		    "backend: local sandboxes use this machine's system files; omit template",
		    req->template_name);
	memset(&sb, 0, sizeof(sb));
	/* Unless asked otherwise, a sandbox gets all the operator allows. */
	sb.net = L->net.ceiling;
	if (req->network != NULL && net_policy_of(L, req->network, false, &sb.net, c->a, e) != 0)
		return e->code;
	if (env_ok(req->env, req->nenv, e) != 0 || spawn_host_ok(e) != 0)
		return e->code;
	if (limits_of(L, req, &sb.lim, e) != 0)
		return e->code;
	if (timeout_s <= 0)
		timeout_s = LOCAL_DEFAULT_TIMEOUT_S;
	if (timeout_s > INT64_MAX / 1000 - now / 1000)
		timeout_s = INT64_MAX / 1000 - now / 1000;
	if (new_id(&sb, L, e) != 0)
		return e->code;
	sb.isolate = L->isolate;
	sb.ephemeral = req->ephemeral;
	sb.created_at = now;
	sb.expires_at = now + timeout_s * 1000;
	sb.template_name = "local";
	sb.cpu = req->cpu;
	sb.memory = req->memory;
	sb.env = req->env;
	sb.nenv = req->nenv;
	sb.metadata = req->metadata;
	sb.nmetadata = req->nmetadata;

	rc = make_dirs(L, &sb, e);
	if (rc == 0)
		rc = store_meta_write(&sb, e);
	if (rc == 0) {
		fd = store_lock(sb.dir);
		rc = spawn_start(L, &sb, e);
		store_unlock(fd);
	}
	if (rc != 0) {
		local_rmtree(AT_FDCWD, sb.dir);
		return rc;
	}
	log_msg(LOG_INFO, "local", "created sandbox %s (%s)", sb.id,
	    sb.isolate ? "namespaces" : "NO ISOLATION");

	if (req->entrypoint != NULL && req->entrypoint[0] != '\0') {
		struct exec_req er;
		struct exec_result res;

		memset(&er, 0, sizeof(er));
		er.command = req->entrypoint;
		er.background = true;
		rc = local_exec(b, sb.id, &er, NULL, NULL, &res, c, e);
		if (rc != 0) {
			err_prefix(e, "the entrypoint did not start, so the sandbox was removed: ");
			sb_destroy(L, &sb);
			return rc;
		}
		extra = arena_printf(c->a, " The entrypoint runs as background process %s.",
		    res.pid);
	}
	info_fill(L, &sb, out, c->a);
	if (req->auto_pause == 1)
		extra = arena_printf(c->a,
		    "%s auto_pause is not supported by the local backend; "
		    "the sandbox runs until its timeout.",
		    extra != NULL ? extra : "");
	if (extra != NULL && *extra != '\0' && out->note != NULL)
		out->note = arena_printf(c->a, "%s%s", out->note, extra);
	return 0;
}

/* ---- list / info / kill --------------------------------------------------------------------- */

static bool
has_state(const struct sb_list_req *req, const char *state)
{
	if (req->nstates == 0)
		return true;
	for (size_t i = 0; i < req->nstates; i++)
		if (req->states[i] != NULL && strcmp(req->states[i], state) == 0)
			return true;
	return false;
}

static bool
has_metadata(const struct sb_list_req *req, const struct lsb *sb)
{
	for (size_t i = 0; i < req->nmetadata; i++) {
		bool hit = false;

		for (size_t j = 0; j < sb->nmetadata && !hit; j++)
			hit = strcmp(sb->metadata[j].key, req->metadata[i].key) == 0 &&
			    strcmp(sb->metadata[j].value, req->metadata[i].value) == 0;
		if (!hit)
			return false;
	}
	return true;
}

static int
info_cmp(const void *pa, const void *pb)
{
	const struct sb_info *a = pa, *b = pb;

	if (a->created_at != b->created_at)
		return a->created_at < b->created_at ? -1 : 1;
	return strcmp(a->id, b->id);
}

static char **
dir_names(const char *path, const char *prefix, size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = xstrdup(de->d_name);
	}
	if (d != NULL)
		closedir(d);
	return v;
}

int
local_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	size_t n, cnt = 0, start = 0, limit;
	char **names = dir_names(L->root, "sbx-", &n);
	struct sb_info *all = n ? arena_zalloc(c->a, n * sizeof(*all)) : NULL;
	long long cur_at = 0;
	char cur_id[LOCAL_ID_MAX] = "";

	memset(out, 0, sizeof(*out));
	if (n > 0 && all == NULL) {
		local_names_free(names, n);
		return err_set(e, ERR_TOOBIG, "too many sandboxes to list at once");
	}
	if (req->cursor != NULL && req->cursor[0] != '\0' &&
	    (sscanf(req->cursor, "%lld.%47s", &cur_at, cur_id) != 2 || !store_id_ok(cur_id))) {
		local_names_free(names, n);
		return err_set(e, ERR_INVAL,
		    "cursor \"%.40s\" is not one this server returned; "
		    "omit it to list from the start",
		    req->cursor);
	}
	for (size_t i = 0; i < n; i++) {
		struct lsb sb;
		struct err ignore = { 0 };

		if (store_load(L, names[i], c->a, &sb, &ignore) != 0)
			continue;
		if (!has_state(req, sb.paused ? "paused" : "running") || !has_metadata(req, &sb))
			continue;
		info_fill(L, &sb, &all[cnt++], c->a);
	}
	local_names_free(names, n);
	if (cnt > 1)
		qsort(all, cnt, sizeof(*all), info_cmp);
	if (cur_id[0] != '\0') {
		struct sb_info key;

		memset(&key, 0, sizeof(key));
		key.created_at = cur_at;
		key.id = cur_id;
		while (start < cnt && info_cmp(&all[start], &key) <= 0)
			start++;
	}
	limit = req->limit <= 0
	    ? LOCAL_LIST_DEFAULT
	    : (req->limit > LOCAL_LIST_MAX ? LOCAL_LIST_MAX : (size_t)req->limit);
	out->items = all != NULL ? all + start : NULL;
	out->n = cnt - start < limit ? cnt - start : limit;
	if (start + out->n < cnt) {
		const struct sb_info *last = &out->items[out->n - 1];

		out->next_cursor = arena_printf(c->a, "%lld.%s", (long long)last->created_at,
		    last->id);
	}
	return 0;
}

int
local_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc = store_load(L, id, c->a, &sb, e);

	if (rc != 0)
		return rc;
	info_fill(L, &sb, out, c->a);
	return 0;
}

/* Ends the sandbox's processes through its supervisor (whose socket moved with the
 * directory), or by hand when the supervisor does not answer. */
static void
sb_stop(const struct lsb *sb, const char *dir)
{
	struct sockaddr_un sa;
	struct wire_in r;
	socklen_t len;
	int fd = -1, dirfd = -1;
	bool done = false;

	memset(&r, 0, sizeof(r));
	if (wire_addr(dir, &sa, &len, &dirfd) == 0 &&
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
	    connect(fd, (struct sockaddr *)&sa, len) == 0 &&
	    wire_send(fd, W_SHUTDOWN, 0, 0, 0, 0, NULL, 0, NULL, 0) == 0) {
		struct call c = { NULL, NULL, deadline_in_ms(LOCAL_KILL_WAIT_MS) };
		struct err ignore = { 0 };

		done = spawn_recv(fd, &r, &c, -1, &ignore) == 1 && r.h.type == W_DONE;
	}
	wire_in_reset(&r);
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	if (local_pid_alive(sb->legacy_pid, sb->legacy_start))
		kill(sb->legacy_pid, SIGKILL); /* an older version's init */
	if (done || !sb->has_sup)
		return;
	if (local_pid_alive(sb->sup.pid, sb->sup.start))
		kill(sb->sup.pid, SIGKILL);
	if (local_pid_alive(sb->sup.init_pid, sb->sup.init_start))
		kill(sb->sup.init_pid, SIGKILL);
	limits_cg_kill(&sb->sup.cg, 2000);
	limits_cg_destroy(&sb->sup.cg, 2000);
}

static void
lifeline_drop(struct local *L, const char *id)
{
	struct lline **pp, *l;

	pthread_mutex_lock(&L->mu);
	for (pp = &L->lifelines; (l = *pp) != NULL; pp = &l->next) {
		if (strcmp(l->id, id) == 0) {
			*pp = l->next;
			if (l->fd >= 0)
				close(l->fd);
			free(l);
			break;
		}
	}
	pthread_mutex_unlock(&L->mu);
}

static void
sb_destroy(struct local *L, const struct lsb *sb)
{
	char trash[PATH_MAX];

	local_helpers_drop(L, sb->id);
	if (store_trash(L->root, sb->dir, sb->id, trash) != 0) {
		lifeline_drop(L, sb->id);
		return; /* someone else removed it */
	}
	sb_stop(sb, trash);
	lifeline_drop(L, sb->id);
	local_rmtree(AT_FDCWD, trash);
}

int
local_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc = store_load(L, id, c->a, &sb, e);

	if (rc != 0)
		return rc;
	sb_destroy(L, &sb);
	log_msg(LOG_INFO, "local", "killed sandbox %s", sb.id);
	return 0;
}

/* ---- pause / resume / timeout ----------------------------------------------------------------- */

static int
set_paused(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)L;
	(void)e;
	cur->paused = *(bool *)arg;
	return 0;
}

static int
pause_to(struct backend *b, const char *id, bool on, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc = store_load(L, id, c->a, &sb, e);

	if (rc == 0)
		rc = store_modify(L, &sb, set_paused, &on, e);
	if (rc == 0)
		rc = spawn_simple(L, &sb, W_PAUSE, on, 0, NULL, 0, c, e);
	return rc;
}

int
local_pause(struct backend *b, const char *id, struct call *c, struct err *e)
{
	return pause_to(b, id, true, c, e);
}

int
local_resume(struct backend *b, const char *id, struct call *c, struct err *e)
{
	return pause_to(b, id, false, c, e);
}

static int
set_expiry(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)L;
	(void)e;
	cur->expires_at = *(int64_t *)arg;
	return 0;
}

int
local_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int64_t at;
	int rc;

	if (timeout_s <= 0 || timeout_s > 10LL * 365 * 24 * 3600)
		return err_set(e, ERR_INVAL,
		    "timeout_s must be between 1 and 315360000 seconds "
		    "(counted from now)");
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	at = time_wall_ms() + timeout_s * 1000;
	rc = store_modify(L, &sb, set_expiry, &at, e);
	if (rc == 0) /* the supervisor re-reads its expiry */
		rc = spawn_simple(L, &sb, W_RELOAD, 0, 0, NULL, 0, c, e);
	if (rc == 0 && expires_at != NULL)
		*expires_at = at;
	return rc;
}

/* ---- url / metrics ---------------------------------------------------------------------------- */

int
local_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if (port < 1 || port > 65535)
		return err_set(e, ERR_INVAL, "port %d is not a TCP port; use 1 to 65535", port);
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	if (sb.isolate) {
		struct wire_in r;

		/* The sandbox's own loopback, forwarded from one on this machine's. */
		if ((rc = spawn_request(L, &sb, W_FORWARD, port, 0, NULL, 0, &r, c, e)) != 0)
			return rc;
		rc = r.h.a;
		wire_in_reset(&r);
		if (rc <= 0)
			return err_set(e, ERR_BACKEND,
			    "the supervisor of sandbox %s could not open a "
			    "port for %d on this machine: %s",
			    sb.id, port, strerror(-rc));
		port = rc;
	}
	out->url = arena_printf(c->a, "http://127.0.0.1:%d", port);
	return 0;
}

struct usage {
	long long ticks;
	int64_t mem;
};

static int
usage_one(pid_t pid, void *arg)
{
	struct usage *u = arg;
	unsigned long long t[2];
	int64_t m;

	if (local_proc_stat(pid, 14, 2, t, NULL) == 0) /* utime, stime */
		u->ticks += (long long)(t[0] + t[1]);
	if ((m = limits_proc_memory(pid)) > 0)
		u->mem += m;
	return 0;
}

static int64_t
du_bytes(int dirfd, int depth, size_t *budget)
{
	DIR *d;
	struct dirent *de;
	int64_t sum = 0;
	int fd = dup(dirfd);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL && *budget > 0) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(*budget)--;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sum += (int64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode) && depth < 64) {
			int sub = openat(dirfd, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				sum += du_bytes(sub, depth + 1, budget);
				close(sub);
			}
		}
	}
	closedir(d);
	return sum;
}

/* CPU time of the sandbox in microseconds: its cgroup, else its process tree. */
static int64_t
cpu_usec(const struct lsb *sb, struct usage *u)
{
	int64_t v = sb->has_sup ? limits_cg_cpu_usec(&sb->sup.cg) : -1;
	long tck = sysconf(_SC_CLK_TCK);

	memset(u, 0, sizeof(*u));
	if (sb->has_sup)
		limits_tree_walk(sb->sup.init_pid, 65536, usage_one, u);
	if (v >= 0 || tck <= 0)
		return v;
	return u->ticks * 1000000 / tck;
}

int
local_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct usage u1, u2;
	struct statvfs sv;
	cpu_set_t set;
	size_t budget = 200000;
	int64_t t1, t2, c1, c2, cg;
	int rc, fd;

	memset(out, 0, sizeof(*out));
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	out->cpu_count = sched_getaffinity(0, sizeof(set), &set) == 0
	    ? CPU_COUNT(&set)
	    : (double)sysconf(_SC_NPROCESSORS_ONLN);
	if (sb.lim.cpu_milli > 0 && sb.lim.cpu_milli / 1000.0 < out->cpu_count)
		out->cpu_count = sb.lim.cpu_milli / 1000.0;
	t1 = time_mono_ms();
	c1 = cpu_usec(&sb, &u1);
	(void)wait_sleep(c, 200, NULL, NULL); /* the sample; shorter when cancelled */
	c2 = cpu_usec(&sb, &u2);
	t2 = time_mono_ms();
	out->cpu_used_pct = -1;
	if (t2 > t1 && c1 >= 0 && c2 >= 0)
		out->cpu_used_pct = c2 > c1 ? (double)(c2 - c1) / 1000.0 / (double)(t2 - t1) * 100
		                            : 0;
	cg = sb.has_sup ? limits_cg_memory(&sb.sup.cg) : -1;
	out->mem_used_bytes = cg >= 0 ? cg : u2.mem;
	out->mem_total_bytes = sb.lim.memory > 0 ? sb.lim.memory : L->mem_total;
	out->disk_total_bytes = out->disk_used_bytes = -1;
	if (statvfs(sb.dir, &sv) == 0)
		out->disk_total_bytes = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
	fd = open(sb.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		out->disk_used_bytes = du_bytes(fd, 0, &budget);
		close(fd);
	}
	out->timestamp = time_wall_ms();
	return 0;
}

/* ---- network ---------------------------------------------------------------------------------- */

#define NET_LOG_SHOW 20

/* The last refusals of the sandbox (<dir>/network.log, written by its supervisor). */
static void
recent_denied(const struct lsb *sb, struct net_policy *out, struct arena *a)
{
	char path[PATH_MAX], buf[16384];
	const char *lines[NET_LOG_SHOW];
	size_t n = 0;
	ssize_t got;
	int fd;

	store_path(path, sb, "network.log");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	got = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (got <= 0)
		return;
	buf[got] = '\0';
	for (char *line = buf, *nl; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		if (*line == '\0')
			continue;
		if (n == NET_LOG_SHOW) {
			memmove(lines, lines + 1, (NET_LOG_SHOW - 1) * sizeof(lines[0]));
			n--;
		}
		lines[n++] = arena_strdup(a, line);
	}
	out->recent = arena_zalloc(a, (n + 1) * sizeof(char *));
	if (out->recent == NULL)
		return;
	memcpy(out->recent, lines, n * sizeof(lines[0]));
	out->nrecent = n;
}

static void
ceiling_note(const struct local *L, struct net_policy *out, struct arena *a)
{
	const struct npol *cl = &L->net.ceiling;

	if (!L->isolate)
		out->note = "With --local-isolation none commands use this machine's network "
		            "directly; this policy is not enforced.";
	else if (!cl->allow)
		out->note = cl->n > 0
		    ? arena_printf(a,
		          "The operator allows sandboxes only %zu "
		          "target%s (--local-egress); this policy applies within that.",
		          cl->n, cl->n == 1 ? "" : "s")
		    : "The operator denies sandboxes all egress "
		      "(--local-egress deny).";
}

int
local_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	npol_to_lists(&sb.net, out, c->a);
	recent_denied(&sb, out, c->a);
	ceiling_note(L, out, c->a);
	return 0;
}

static int
set_net(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)L;
	(void)e;
	cur->net = *(const struct npol *)arg;
	return 0;
}

/* Tells the supervisor to re-read the policy, with this server's flags. */
static int
policy_reload(struct local *L, struct lsb *sb, struct call *c, struct err *e)
{
	struct buf cfg = { 0 };
	struct wire_in r;
	int rc;

	if (netcfg_encode(&L->net, &cfg) != 0) {
		buf_fini(&cfg);
		return err_set(e, ERR_TOOBIG, "the network flags are too large");
	}
	rc = spawn_request(L, sb, W_RELOAD, 0, 0, cfg.p, cfg.len, &r, c, e);
	buf_fini(&cfg);
	if (rc == 0)
		wire_in_reset(&r);
	return rc;
}

int
local_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct npol p;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	p = sb.net;
	if (net_policy_of(L, req, replace, &p, c->a, e) != 0)
		return e->code;
	rc = store_modify(L, &sb, set_net, &p, e);
	if (rc == 0 && sb.isolate)
		rc = policy_reload(L, &sb, c, e);
	if (rc != 0)
		return rc;
	npol_to_lists(&p, out, c->a);
	recent_denied(&sb, out, c->a);
	ceiling_note(L, out, c->a);
	if (out->note == NULL && sb.isolate)
		out->note = "The policy applies at once: to new connections of running processes "
		            "too, and open connections it now refuses were closed.";
	return 0;
}
