/*
 * local.c -- the local backend: sandbox directories, metadata, lifecycle, network policy,
 * metrics, and the expiry sweeper. Commands are in local_exec.c, files in local_fs.c,
 * namespaces in local_ns.c.
 */
#define LOCAL_INTERNAL
#include "backends/local.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#define LOCAL_DEFAULT_TIMEOUT_S (24 * 3600)	/* local resources are cheap; losing work is not */
#define LOCAL_LIST_DEFAULT 100
#define LOCAL_LIST_MAX 1000
#define LOCAL_META_MAX (1024 * 1024)
#define LOCAL_SWEEP_MS 5000
#define LOCAL_KILL_WAIT_MS 2000
#define LOCAL_STALE_NEW_S 3600
#define LOCAL_PROCS_MAX 4096

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

static bool
id_ok(const char *id)
{
	size_t n;

	if (id == NULL || strncmp(id, "sbx-", 4) != 0)
		return false;
	n = strlen(id);
	if (n < 5 || n >= LOCAL_ID_MAX)
		return false;
	for (size_t i = 4; i < n; i++)
		if (!isdigit((unsigned char)id[i]) && (id[i] < 'a' || id[i] > 'f'))
			return false;
	return true;
}

static int
notfound(struct err *e, const char *id)
{
	return err_set(e, ERR_NOTFOUND, "sandbox %s does not exist (it may have expired or been "
	    "killed); list sandboxes with sandbox_list or create one with sandbox_create",
	    id != NULL ? id : "(none)");
}

void
local_path(char *out, const struct lsb *sb, const char *sub)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", sb->dir, sub);

	if (n < 0 || n >= PATH_MAX)
		out[0] = '\0';
}

static int
read_small(const char *path, size_t max, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char tmp[8192];
	ssize_t n;

	if (fd < 0)
		return errno;
	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len + (size_t)n > max || buf_append(out, tmp, (size_t)n, NULL) != 0) {
			close(fd);
			return EFBIG;
		}
	}
	close(fd);
	return n < 0 ? EIO : 0;
}

/* ---- meta.json ---------------------------------------------------------------------- */

static const struct kv *
kv_from(const struct json *obj, struct arena *a, size_t *n)
{
	struct kv *v;
	size_t i = 0;

	*n = 0;
	if (obj == NULL || obj->type != JSON_OBJECT || obj->count == 0)
		return NULL;
	v = arena_zalloc(a, obj->count * sizeof(*v));
	if (v == NULL)
		return NULL;
	for (const struct json *m = obj->head; m != NULL; m = m->next) {
		if (m->type != JSON_STRING)
			continue;
		v[i].key = arena_strndup(a, m->key, m->key_len);
		v[i].value = m->s;
		if (v[i].key != NULL)
			i++;
	}
	*n = i;
	return v;
}

/* Reads sb->dir/meta.json into sb (id and dir already set). */
static int
meta_read(struct lsb *sb, struct arena *a, struct err *e)
{
	char path[PATH_MAX];
	struct buf b = { 0 };
	const struct json *j;
	const char *s;
	int64_t v;
	int rc;

	local_path(path, sb, "meta.json");
	rc = read_small(path, LOCAL_META_MAX, &b);
	if (rc != 0) {
		buf_fini(&b);
		if (rc == ENOENT || rc == ENOTDIR)
			return notfound(e, sb->id);
		return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(rc));
	}
	j = json_parse(b.p != NULL ? b.p : "", b.len, a, e);
	buf_fini(&b);
	if (j == NULL) {
		err_prefix(e, "sandbox %s has a damaged meta.json (kill it): ", sb->id);
		return e->code;
	}
	if (j->type != JSON_OBJECT)
		return err_set(e, ERR_BACKEND, "sandbox %s has a damaged meta.json; kill it",
		    sb->id);
	s = json_get_str(j, "isolation");
	sb->isolate = s == NULL || strcmp(s, "none") != 0;
	s = json_get_str(j, "network");
	sb->net_allow = s == NULL || strcmp(s, "deny") != 0;
	sb->paused = json_truthy(json_get(j, "paused"));
	if (json_int(json_get(j, "created_at"), &v))
		sb->created_at = v;
	if (json_int(json_get(j, "expires_at"), &v))
		sb->expires_at = v;
	if (json_int(json_get(j, "supervisor_pid"), &v))
		sb->sup_pid = (pid_t)v;
	if (json_int(json_get(j, "supervisor_start"), &v))
		sb->sup_start = (unsigned long long)v;
	sb->template_name = json_get_str(j, "template");
	sb->cpu = json_get_str(j, "cpu");
	sb->memory = json_get_str(j, "memory");
	sb->env = kv_from(json_get(j, "env"), a, &sb->nenv);
	sb->metadata = kv_from(json_get(j, "metadata"), a, &sb->nmetadata);
	return 0;
}

static void
kv_write(struct jsonw *w, const char *key, const struct kv *kv, size_t n)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_kstr(w, kv[i].key, kv[i].value != NULL ? kv[i].value : "");
	jsonw_obj_end(w);
}

static int
meta_write(const struct lsb *sb, struct err *e)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct buf b = { 0 };
	struct jsonw w;
	int fd, rc = 0;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "id", sb->id);
	jsonw_kstr(&w, "template", sb->template_name != NULL ? sb->template_name : "local");
	jsonw_kint(&w, "created_at", sb->created_at);
	jsonw_kint(&w, "expires_at", sb->expires_at);
	jsonw_kstr(&w, "isolation", sb->isolate ? "namespaces" : "none");
	jsonw_kstr(&w, "network", sb->net_allow ? "allow" : "deny");
	jsonw_kbool(&w, "paused", sb->paused);
	jsonw_kint(&w, "supervisor_pid", sb->sup_pid);
	jsonw_kint(&w, "supervisor_start", (int64_t)sb->sup_start);
	jsonw_kstr(&w, "cpu", sb->cpu);
	jsonw_kstr(&w, "memory", sb->memory);
	kv_write(&w, "env", sb->env, sb->nenv);
	kv_write(&w, "metadata", sb->metadata, sb->nmetadata);
	jsonw_obj_end(&w);
	buf_putc(&b, '\n', NULL);
	if (jsonw_error(&w) != 0) {
		buf_fini(&b);
		return err_set(e, ERR_TOOBIG, "sandbox metadata is too large");
	}
	local_path(path, sb, "meta.json");
	local_path(tmp, sb, "meta.json.tmp");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b.p, b.len) != (ssize_t)b.len || rename(tmp, path) < 0)
		rc = err_set(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO,
		    "cannot write the metadata of sandbox %s: %s", sb->id, strerror(errno));
	if (fd >= 0)
		close(fd);
	buf_fini(&b);
	return rc;
}

static int
sb_lock(const struct lsb *sb)
{
	char path[PATH_MAX];
	int fd;

	local_path(path, sb, "lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void
sb_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

typedef int (*sb_fn)(struct local *L, struct lsb *cur, void *arg, struct err *e);

/* Read-modify-write of meta.json under the sandbox's lock; scalar results go back to sb. */
static int
sb_modify(struct local *L, struct lsb *sb, sb_fn fn, void *arg, struct err *e)
{
	struct arena *a = arena_new(4 * LOCAL_META_MAX);
	struct lsb cur;
	int fd, rc;

	fd = sb_lock(sb);
	if (fd < 0) {
		arena_free(a);
		return notfound(e, sb->id);
	}
	memset(&cur, 0, sizeof(cur));
	memcpy(cur.id, sb->id, sizeof(cur.id));
	memcpy(cur.dir, sb->dir, sizeof(cur.dir));
	rc = meta_read(&cur, a, e);
	if (rc == 0)
		rc = fn(L, &cur, arg, e);
	if (rc == 0)
		rc = meta_write(&cur, e);
	if (rc == 0) {
		sb->paused = cur.paused;
		sb->expires_at = cur.expires_at;
		sb->net_allow = cur.net_allow;
		sb->sup_pid = cur.sup_pid;
		sb->sup_start = cur.sup_start;
	}
	sb_unlock(fd);
	arena_free(a);
	return rc;
}

/* ---- processes of a sandbox ------------------------------------------------------------ */

struct pstat {
	char state;
	long long f[25];	/* f[k] = field k of /proc/PID/stat (k >= 4) */
};

static bool
proc_stat(pid_t pid, struct pstat *ps)
{
	char path[64], buf[1024], *p, *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || p[1] == '\0')
		return false;
	memset(ps, 0, sizeof(*ps));
	ps->state = p[2];
	p += 3;
	for (int k = 4; k < 25 && *p != '\0'; k++) {
		ps->f[k] = strtoll(p, &end, 10);
		if (end == p)
			break;
		p = end;
		while (*p == ' ')
			p++;
	}
	return true;
}

typedef void (*proc_fn)(pid_t pid, const struct pstat *ps, void *arg);

/* Calls fn for every process of the sandbox (not its init): for namespaces those in its
 * PID namespace, for isolation none those in the sessions of its commands. */
static void
procs_each(struct local *L, const struct lsb *sb, proc_fn fn, void *arg)
{
	char want[64] = "", link[64], path[64];
	pid_t *sids = NULL;
	size_t nsid = 0;
	DIR *d;
	struct dirent *de;
	ssize_t n;

	if (sb->isolate) {
		if (!local_pid_alive(sb->sup_pid, sb->sup_start))
			return;
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)sb->sup_pid);
		n = readlink(path, want, sizeof(want) - 1);
		if (n <= 0)
			return;
		want[n] = '\0';
	} else {
		sids = xmalloc(LOCAL_PROCS_MAX * sizeof(*sids));
		nsid = local_bg_sessions(sb, sids, LOCAL_PROCS_MAX);
		pthread_mutex_lock(&L->mu);
		for (struct lfg *f = L->fg; f != NULL && nsid < LOCAL_PROCS_MAX; f = f->next)
			if (strcmp(f->id, sb->id) == 0)
				sids[nsid++] = f->pgid;
		pthread_mutex_unlock(&L->mu);
		if (nsid == 0) {
			free(sids);
			return;
		}
	}
	d = opendir("/proc");
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct pstat ps;
		pid_t pid;
		bool mine = false;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)atoi(de->d_name);
		if (sb->isolate) {
			if (pid == sb->sup_pid)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			mine = strcmp(link, want) == 0;
		}
		if (!proc_stat(pid, &ps))
			continue;
		for (size_t i = 0; !sb->isolate && i < nsid; i++)
			mine = mine || ps.f[6] == sids[i];
		if (mine)
			fn(pid, &ps, arg);
	}
	if (d != NULL)
		closedir(d);
	free(sids);
}

/* ---- destroying ------------------------------------------------------------------------ */

static void
sb_destroy(struct local *L, const struct lsb *sb)
{
	char trash[PATH_MAX];
	unsigned rnd = 0;
	struct lsb t;
	pid_t sids[256];
	size_t n;
	int fd, len;
	int64_t dl;

	if (getrandom(&rnd, sizeof(rnd), 0) < 0)
		rnd = (unsigned)time_mono_ms();
	len = snprintf(trash, sizeof(trash), "%s/.trash-%s-%08x", L->root, sb->id, rnd);
	if (len < 0 || len >= (int)sizeof(trash))
		return;
	fd = sb_lock(sb);
	if (rename(sb->dir, trash) < 0) {
		sb_unlock(fd);
		return;		/* someone else removed it */
	}
	sb_unlock(fd);
	t = *sb;
	memcpy(t.dir, trash, sizeof(t.dir));
	if (sb->isolate && local_pid_alive(sb->sup_pid, sb->sup_start))
		kill(sb->sup_pid, SIGKILL);
	n = local_bg_sessions(&t, sids, sizeof(sids) / sizeof(sids[0]));
	for (size_t i = 0; i < n; i++)
		kill(-sids[i], SIGKILL);
	pthread_mutex_lock(&L->mu);
	for (struct lfg *f = L->fg; f != NULL; f = f->next)
		if (strcmp(f->id, sb->id) == 0)
			kill(-f->pgid, SIGKILL);
	pthread_mutex_unlock(&L->mu);
	dl = deadline_in_ms(LOCAL_KILL_WAIT_MS);
	while (sb->isolate && local_pid_alive(sb->sup_pid, sb->sup_start) && !deadline_passed(dl))
		poll(NULL, 0, 10);
	local_rmtree(AT_FDCWD, trash);
}

static bool
expired(const struct lsb *sb)
{
	return sb->expires_at > 0 && time_wall_ms() >= sb->expires_at;
}

int
local_sb_load(struct local *L, const char *id, struct arena *a, struct lsb *sb,
    struct err *e)
{
	int rc, n;

	memset(sb, 0, sizeof(*sb));
	if (!id_ok(id))
		return id == NULL || *id == '\0' ?
		    err_set(e, ERR_INVAL, "sandbox_id is missing; create a sandbox with "
		    "sandbox_create or list them with sandbox_list") :
		    err_set(e, ERR_NOTFOUND, "sandbox %.64s does not exist: local sandbox ids look "
		    "like sbx-0123abcd; list them with sandbox_list", id);
	memcpy(sb->id, id, strlen(id) + 1);
	n = snprintf(sb->dir, sizeof(sb->dir), "%s/%s", L->root, id);
	if (n < 0 || n >= (int)sizeof(sb->dir))
		return notfound(e, id);
	rc = meta_read(sb, a, e);
	if (rc != 0)
		return rc;
	if (expired(sb)) {
		char when[40];

		sb_destroy(L, sb);
		time_format_rfc3339(sb->expires_at, when, sizeof(when));
		return err_set(e, ERR_NOTFOUND, "sandbox %s expired at %s and was removed; create "
		    "a new one with sandbox_create", id, when);
	}
	return 0;
}

static int
restart_fn(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)arg;
	if (local_pid_alive(cur->sup_pid, cur->sup_start))
		return 0;	/* another thread got here first */
	if (cur->sup_pid > 0)
		log_msg(LOG_NOTICE, "local", "sandbox %s: its init process is gone (reboot?); "
		    "starting a new one", cur->id);
	return local_sup_start(L, cur, e);
}

int
local_sb_ns(struct local *L, struct lsb *sb, struct lns *ns, bool want_net, struct err *e)
{
	struct err tmp = { 0 };
	int rc;

	ns->user = ns->mnt = ns->pid = ns->ipc = ns->uts = ns->net = -1;
	ns->drop_groups = false;
	if (!sb->isolate)
		return 0;
	if (local_pid_alive(sb->sup_pid, sb->sup_start) &&
	    local_ns_open(sb->sup_pid, sb->sup_start, want_net, L->host_root, ns, &tmp) == 0)
		return 0;
	rc = sb_modify(L, sb, restart_fn, NULL, e);
	if (rc != 0)
		return rc;
	return local_ns_open(sb->sup_pid, sb->sup_start, want_net, L->host_root, ns, e);
}

void
local_fg_add(struct local *L, const char *id, pid_t pgid)
{
	struct lfg *f = xcalloc(1, sizeof(*f));

	snprintf(f->id, sizeof(f->id), "%s", id);
	f->pgid = pgid;
	pthread_mutex_lock(&L->mu);
	f->next = L->fg;
	L->fg = f;
	pthread_mutex_unlock(&L->mu);
}

void
local_fg_del(struct local *L, pid_t pgid)
{
	struct lfg **pp, *f;

	pthread_mutex_lock(&L->mu);
	for (pp = &L->fg; (f = *pp) != NULL; pp = &f->next) {
		if (f->pgid == pgid) {
			*pp = f->next;
			free(f);
			break;
		}
	}
	pthread_mutex_unlock(&L->mu);
}

int
local_fs_enter(const struct local *L)
{
	if (!L->host_root || L->uid == 0)
		return -1;
	setfsgid(L->gid);
	setfsuid(L->uid);
	return 0;
}

void
local_fs_leave(const struct local *L, int token)
{
	(void)L;
	if (token < 0)
		return;
	setfsuid(0);
	setfsgid(0);
}

/* ---- info -------------------------------------------------------------------------------- */

static const char *
note_of(const struct local *L, const struct lsb *sb, struct arena *a)
{
	char ws[PATH_MAX];

	if (!sb->isolate) {
		local_path(ws, sb, "workspace");
		return arena_printf(a, "NO ISOLATION (--local-isolation none): commands run "
		    "directly on this machine as %s, with its files and network; the working "
		    "directory is %s.", L->user, ws);
	}
	return arena_printf(a, "Isolated local sandbox: commands run as root in /workspace; "
	    "this machine's files are visible read-only, only /workspace, /tmp and /root are "
	    "writable; network %s.", sb->net_allow ? "allowed" :
	    "denied (loopback only)");
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
}

/* ---- create ------------------------------------------------------------------------------ */

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
			return err_set(e, ERR_INVAL, "environment variable name \"%.40s\" is invalid: "
			    "use a non-empty name without '='", kv[i].key != NULL ? kv[i].key : "");
	return 0;
}

static int
make_dirs(struct local *L, const struct lsb *sb, struct err *e)
{
	static const struct {
		const char *name;
		mode_t mode;
		bool chown;
	} dirs[] = {
		{ "workspace", 0755, true }, { "tmp", 01777, true }, { "home", 0700, true },
		{ "procs", 0700, false },
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		local_path(path, sb, dirs[i].name);
		if (mkdir(path, dirs[i].mode) < 0 || chmod(path, dirs[i].mode) < 0)
			return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
		if (dirs[i].chown && L->host_root && L->uid != 0 && chown(path, L->uid, L->gid) < 0)
			return err_set(e, ERR_IO, "cannot chown %s: %s", path, strerror(errno));
	}
	return 0;
}

static int
l_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	char build[PATH_MAX];
	unsigned char rnd[6];
	const char *extra = "";
	int64_t now = time_wall_ms(), timeout_s = req->timeout_s;
	bool deny = req->network != NULL && req->network->default_action == 0;
	int rc, n;

	if (!template_ok(req->template_name))
		return err_set(e, ERR_UNSUPPORTED, "template \"%.60s\" is not available on the local "
		    "backend: local sandboxes use this machine's filesystem; omit template",
		    req->template_name);
	if (req->network != NULL && (req->network->nallow > 0 || req->network->ndeny > 0))
		return err_set(e, ERR_UNSUPPORTED, "the local backend can only allow or deny all "
		    "network access; per-host allow/deny rules cannot be enforced here, so pass "
		    "only network.default");
	if (deny && !L->isolate)
		return err_set(e, ERR_UNSUPPORTED, "with --local-isolation none the local backend "
		    "cannot deny network access; use the default isolation (namespaces)");
	if (env_ok(req->env, req->nenv, e) != 0)
		return e->code;
	if (timeout_s <= 0)
		timeout_s = LOCAL_DEFAULT_TIMEOUT_S;
	if (timeout_s > INT64_MAX / 1000 - now / 1000)
		timeout_s = INT64_MAX / 1000 - now / 1000;

	memset(&sb, 0, sizeof(sb));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return err_set(e, ERR_IO, "cannot create a sandbox id: getrandom: %s",
		    strerror(errno));
	snprintf(sb.id, sizeof(sb.id), "sbx-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	    rnd[3], rnd[4], rnd[5]);
	n = snprintf(build, sizeof(build), "%s/.new-%s", L->root, sb.id);
	if (n < 0 || n >= (int)sizeof(build))
		return err_set(e, ERR_INVAL, "the local state directory path is too long");
	memcpy(sb.dir, build, sizeof(sb.dir));
	sb.isolate = L->isolate;
	sb.net_allow = !deny;
	sb.created_at = now;
	sb.expires_at = now + timeout_s * 1000;
	sb.template_name = "local";
	sb.cpu = req->cpu;
	sb.memory = req->memory;
	sb.env = req->env;
	sb.nenv = req->nenv;
	sb.metadata = req->metadata;
	sb.nmetadata = req->nmetadata;

	if (mkdir(build, 0700) < 0)
		return err_set(e, ERR_IO, "cannot create %s: %s", build, strerror(errno));
	rc = make_dirs(L, &sb, e);
	if (rc == 0 && sb.isolate)
		rc = local_sup_start(L, &sb, e);
	if (rc == 0)
		rc = meta_write(&sb, e);
	if (rc == 0) {
		n = snprintf(sb.dir, sizeof(sb.dir), "%s/%s", L->root, sb.id);
		if (n < 0 || n >= (int)sizeof(sb.dir) || rename(build, sb.dir) < 0)
			rc = err_set(e, ERR_IO, "cannot create %s: %s", sb.dir, strerror(errno));
	}
	if (rc != 0) {
		if (sb.sup_pid > 0)
			kill(sb.sup_pid, SIGKILL);
		local_rmtree(AT_FDCWD, build);
		return rc;
	}
	log_msg(LOG_INFO, "local", "created sandbox %s (%s)", sb.id,
	    sb.isolate ? "namespaces" : "no isolation");

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
	if (sb.cpu != NULL || sb.memory != NULL)
		extra = arena_printf(c->a, "%s cpu and memory limits are not enforced by the local "
		    "backend.", extra != NULL ? extra : "");
	if (req->auto_pause == 1)
		extra = arena_printf(c->a, "%s auto_pause is not supported by the local backend; "
		    "the sandbox runs until its timeout.", extra != NULL ? extra : "");
	if (extra != NULL && *extra != '\0' && out->note != NULL)
		out->note = arena_printf(c->a, "%s%s", out->note, extra);
	return 0;
}

/* ---- list / info / kill ------------------------------------------------------------------- */

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

static void
names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
l_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
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
		names_free(names, n);
		return err_set(e, ERR_TOOBIG, "too many sandboxes to list at once");
	}
	if (req->cursor != NULL && req->cursor[0] != '\0' &&
	    (sscanf(req->cursor, "%lld.%47s", &cur_at, cur_id) != 2 || !id_ok(cur_id))) {
		names_free(names, n);
		return err_set(e, ERR_INVAL, "cursor \"%.40s\" is not one this server returned; "
		    "omit it to list from the start", req->cursor);
	}
	for (size_t i = 0; i < n; i++) {
		struct lsb sb;
		struct err ignore = { 0 };

		if (local_sb_load(L, names[i], c->a, &sb, &ignore) != 0)
			continue;
		if (!has_state(req, sb.paused ? "paused" : "running") || !has_metadata(req, &sb))
			continue;
		info_fill(L, &sb, &all[cnt++], c->a);
	}
	names_free(names, n);
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
	limit = req->limit <= 0 ? LOCAL_LIST_DEFAULT :
	    (req->limit > LOCAL_LIST_MAX ? LOCAL_LIST_MAX : (size_t)req->limit);
	out->items = all != NULL ? all + start : NULL;
	out->n = cnt - start < limit ? cnt - start : limit;
	if (start + out->n < cnt) {
		const struct sb_info *last = &out->items[out->n - 1];

		out->next_cursor = arena_printf(c->a, "%lld.%s", (long long)last->created_at,
		    last->id);
	}
	return 0;
}

static int
l_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc = local_sb_load(L, id, c->a, &sb, e);

	if (rc != 0)
		return rc;
	info_fill(L, &sb, out, c->a);
	return 0;
}

static int
l_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc = local_sb_load(L, id, c->a, &sb, e);

	if (rc != 0)
		return rc;
	sb_destroy(L, &sb);
	log_msg(LOG_INFO, "local", "killed sandbox %s", sb.id);
	return 0;
}

/* ---- pause / resume / timeout --------------------------------------------------------------- */

static int
set_paused(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)L;
	(void)e;
	cur->paused = *(bool *)arg;
	return 0;
}

struct stopper {
	int sig;
	size_t sent;
};

static void
stop_one(pid_t pid, const struct pstat *ps, void *arg)
{
	struct stopper *s = arg;

	if (s->sig == SIGSTOP && (ps->state == 'T' || ps->state == 't' || ps->state == 'Z'))
		return;
	if (kill(pid, s->sig) == 0)
		s->sent++;
}

static int
l_pause(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	bool yes = true;
	int rc = local_sb_load(L, id, c->a, &sb, e);

	if (rc == 0)
		rc = sb_modify(L, &sb, set_paused, &yes, e);
	if (rc != 0)
		return rc;
	/* Several passes: a process may fork while we stop its siblings. */
	for (int pass = 0; pass < 8; pass++) {
		struct stopper s = { SIGSTOP, 0 };

		procs_each(L, &sb, stop_one, &s);
		if (s.sent == 0)
			break;
		poll(NULL, 0, 10);
	}
	return 0;
}

static int
l_resume(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct stopper s = { SIGCONT, 0 };
	bool no = false;
	int rc = local_sb_load(L, id, c->a, &sb, e);

	if (rc == 0)
		rc = sb_modify(L, &sb, set_paused, &no, e);
	if (rc != 0)
		return rc;
	procs_each(L, &sb, stop_one, &s);
	return 0;
}

static int
set_expiry(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)L;
	(void)e;
	cur->expires_at = *(int64_t *)arg;
	return 0;
}

static int
l_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int64_t at;
	int rc;

	if (timeout_s <= 0 || timeout_s > 10LL * 365 * 24 * 3600)
		return err_set(e, ERR_INVAL, "timeout_s must be between 1 and 315360000 seconds "
		    "(counted from now)");
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	at = time_wall_ms() + timeout_s * 1000;
	rc = sb_modify(L, &sb, set_expiry, &at, e);
	if (rc == 0 && expires_at != NULL)
		*expires_at = at;
	return rc;
}

/* ---- url / metrics ------------------------------------------------------------------------- */

static int
l_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if (port < 1 || port > 65535)
		return err_set(e, ERR_INVAL, "port %d is not a TCP port; use 1 to 65535", port);
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	if (!sb.net_allow)
		return err_set(e, ERR_UNSUPPORTED, "sandbox %s denies network access, so its ports "
		    "are not reachable from this machine; allow network with network_policy and "
		    "restart the server in the sandbox", sb.id);
	out->url = arena_printf(c->a, "http://127.0.0.1:%d", port);
	return 0;
}

struct usage {
	long long ticks;
	long long rss_pages;
};

static void
usage_one(pid_t pid, const struct pstat *ps, void *arg)
{
	struct usage *u = arg;

	(void)pid;
	u->ticks += ps->f[14] + ps->f[15];
	u->rss_pages += ps->f[24];
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

static int
l_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct usage u1 = { 0, 0 }, u2 = { 0, 0 };
	struct statvfs sv;
	cpu_set_t set;
	struct buf mi = { 0 };
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	size_t budget = 200000;
	int64_t t1, t2;
	int rc, fd;

	memset(out, 0, sizeof(*out));
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	out->cpu_count = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) :
	    (double)sysconf(_SC_NPROCESSORS_ONLN);
	t1 = time_mono_ms();
	procs_each(L, &sb, usage_one, &u1);
	{
		struct pollfd pf = { cancel_fd(c->cancel), POLLIN, 0 };

		poll(&pf, pf.fd >= 0 ? 1 : 0, 200);
	}
	procs_each(L, &sb, usage_one, &u2);
	t2 = time_mono_ms();
	out->cpu_used_pct = -1;
	if (tck > 0 && t2 > t1)
		out->cpu_used_pct = u2.ticks > u1.ticks ?
		    (double)(u2.ticks - u1.ticks) / (double)tck * 1000.0 / (double)(t2 - t1) * 100 :
		    0;
	out->mem_used_bytes = u2.rss_pages * (page > 0 ? page : 4096);
	out->mem_total_bytes = -1;
	if (read_small("/proc/meminfo", 65536, &mi) == 0 && mi.p != NULL) {
		const char *p = strstr(mi.p, "MemTotal:");

		if (p != NULL)
			out->mem_total_bytes = strtoll(p + 9, NULL, 10) * 1024;
	}
	buf_fini(&mi);
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

/* ---- network ------------------------------------------------------------------------------- */

static int
l_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	out->default_action = sb.net_allow ? 1 : 0;
	return 0;
}

static int
set_net(struct local *L, struct lsb *cur, void *arg, struct err *e)
{
	(void)L;
	(void)e;
	cur->net_allow = *(bool *)arg;
	return 0;
}

static int
l_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	bool allow;
	int rc;

	memset(out, 0, sizeof(*out));
	if (req->nallow > 0 || req->ndeny > 0)
		return err_set(e, ERR_UNSUPPORTED, "the local backend can only allow or deny all "
		    "network access; per-host allow/deny rules cannot be enforced here, so set only "
		    "default (allow or deny)");
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	allow = req->default_action == 1 || (req->default_action < 0 && (replace || sb.net_allow));
	if (!allow && !sb.isolate)
		return err_set(e, ERR_UNSUPPORTED, "with --local-isolation none the local backend "
		    "cannot deny network access; use the default isolation (namespaces)");
	if (allow != sb.net_allow) {
		rc = sb_modify(L, &sb, set_net, &allow, e);
		if (rc != 0)
			return rc;
		out->note = "The new network policy applies to commands started from now on; "
		    "processes already running keep the network access they started with.";
	}
	out->default_action = sb.net_allow ? 1 : 0;
	return 0;
}

/* ---- sweeper, constructor --------------------------------------------------------------------- */

static void
local_sweep(struct local *L)
{
	size_t n;
	char **names = dir_names(L->root, "", &n);
	int rootfd = open(L->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];

		if (strncmp(name, "sbx-", 4) == 0) {
			struct arena *a = arena_new(4 * LOCAL_META_MAX);
			struct lsb sb;
			struct err ignore = { 0 };

			local_sb_load(L, name, a, &sb, &ignore);
			arena_free(a);
		} else if (rootfd >= 0 && strncmp(name, ".trash-", 7) == 0) {
			local_rmtree(rootfd, name);
		} else if (rootfd >= 0 && strncmp(name, ".new-", 5) == 0) {
			struct stat st;

			if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    time(NULL) - st.st_mtime > LOCAL_STALE_NEW_S)
				local_rmtree(rootfd, name);
		}
	}
	if (rootfd >= 0)
		close(rootfd);
	names_free(names, n);
}

static void *
sweeper_main(void *arg)
{
	struct local *L = arg;
	struct timespec ts;

	pthread_mutex_lock(&L->sweep_mu);
	while (!L->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += LOCAL_SWEEP_MS / 1000;
		pthread_cond_timedwait(&L->sweep_cv, &L->sweep_mu, &ts);
		if (L->stop)
			break;
		pthread_mutex_unlock(&L->sweep_mu);
		local_sweep(L);
		pthread_mutex_lock(&L->sweep_mu);
	}
	pthread_mutex_unlock(&L->sweep_mu);
	return NULL;
}

static void
l_free(struct backend *b)
{
	struct local *L = LOC(b);
	struct lfg *f;

	if (L == NULL)
		return;
	if (L->sweeper_on) {
		pthread_mutex_lock(&L->sweep_mu);
		L->stop = true;
		pthread_cond_signal(&L->sweep_cv);
		pthread_mutex_unlock(&L->sweep_mu);
		pthread_join(L->sweeper, NULL);
	}
	while ((f = L->fg) != NULL) {
		L->fg = f->next;
		free(f);
	}
	pthread_mutex_destroy(&L->mu);
	pthread_mutex_destroy(&L->sweep_mu);
	pthread_cond_destroy(&L->sweep_cv);
	free(L);
}

static const struct backend_ops local_ops = {
	.name = "local",
	.create = l_create,
	.list = l_list,
	.info = l_info,
	.kill = l_kill,
	.pause = l_pause,
	.resume = l_resume,
	.set_timeout = l_set_timeout,
	.url = l_url,
	.metrics = l_metrics,
	.exec = local_exec,
	.proc_list = local_proc_list,
	.proc_output = local_proc_output,
	.proc_stdin = local_proc_stdin,
	.proc_kill = local_proc_kill,
	.run_code = NULL,
	.file_read = local_file_read,
	.file_write = local_file_write,
	.file_list = local_file_list,
	.file_stat = local_file_stat,
	.file_mkdir = local_file_mkdir,
	.file_move = local_file_move,
	.file_remove = local_file_remove,
	.file_search = local_file_search,
	.net_get = l_net_get,
	.net_set = l_net_set,
	.free = l_free,
};

static int
mkdir_parents(const char *path, struct err *e)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return err_set(e, ERR_INVAL, "the local state directory path is empty or too long");
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] == '/' || p[i] == '\0') {
			char saved = p[i];

			p[i] = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST)
				return err_set(e, ERR_IO, "cannot create the local state directory %s: "
				    "%s; pass --local-root DIR", p, strerror(errno));
			p[i] = saved;
		}
	}
	return 0;
}

static int
default_root(char *out, const char *home, struct err *e)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, PATH_MAX, "%s/sandbox-mcp", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, PATH_MAX, "%s/.local/state/sandbox-mcp", home);
	else
		return err_set(e, ERR_INVAL, "cannot find a directory for local sandboxes: HOME is "
		    "not set; pass --local-root DIR");
	if (n < 0 || n >= PATH_MAX)
		return err_set(e, ERR_INVAL, "the local state directory path is too long; pass "
		    "--local-root DIR");
	return 0;
}

int
local_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e)
{
	struct local *L;
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096], root[PATH_MAX], *home;
	const char *iso = cfg != NULL ? cfg->local_isolation : NULL;
	pthread_condattr_t ca;

	memset(out, 0, sizeof(*out));
	if (iso != NULL && iso[0] != '\0' && strcmp(iso, "namespaces") != 0 &&
	    strcmp(iso, "none") != 0)
		return err_set(e, ERR_INVAL, "--local-isolation %.40s is not known: use namespaces "
		    "(the default) or none", iso);
	L = xcalloc(1, sizeof(*L));
	L->isolate = iso == NULL || strcmp(iso, "none") != 0;
	getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &pwp);
	home = getenv("HOME");
	if ((home == NULL || home[0] != '/') && pwp != NULL)
		home = pwp->pw_dir;
	if (cfg != NULL && cfg->local_root != NULL && cfg->local_root[0] != '\0')
		snprintf(root, sizeof(root), "%s", cfg->local_root);
	else if (default_root(root, home, e) != 0)
		goto fail;
	if (mkdir_parents(root, e) != 0)
		goto fail;
	if (realpath(root, L->root) == NULL) {
		err_set(e, ERR_IO, "cannot use the local state directory %s: %s; pass --local-root "
		    "DIR", root, strerror(errno));
		goto fail;
	}
	if (strcmp(L->root, "/") == 0) {
		err_set(e, ERR_INVAL, "the local state directory cannot be /; pass --local-root DIR");
		goto fail;
	}
	if (home != NULL && home[0] == '/' && realpath(home, root) != NULL &&
	    strcmp(root, "/") != 0)
		snprintf(L->home_mask, sizeof(L->home_mask), "%s", root);
	L->host_root = geteuid() == 0;
	L->uid = L->isolate && L->host_root ? LOCAL_NOBODY : geteuid();
	L->gid = L->isolate && L->host_root ? LOCAL_NOBODY : getegid();
	if (pwp != NULL)
		snprintf(L->user, sizeof(L->user), "%s", pwp->pw_name);
	else
		snprintf(L->user, sizeof(L->user), "uid %d", (int)geteuid());
	pthread_mutex_init(&L->mu, NULL);
	pthread_mutex_init(&L->sweep_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&L->sweep_cv, &ca);
	pthread_condattr_destroy(&ca);
	L->sweeper_on = pthread_create(&L->sweeper, NULL, sweeper_main, L) == 0;
	out->ops = &local_ops;
	out->b = (struct backend *)(void *)L;
	return 0;
fail:
	free(L);
	return e->code;
}
