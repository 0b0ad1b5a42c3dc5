/*
 * backend.c -- the local backend's ops table and constructor: the state root, the sandbox
 * user's identity, the operator's --mount list, the expiry sweeper, and `doctor`'s summary.
 *
 * Identity: when the server runs as an ordinary user, a sandbox's user is that user (same
 * uid and name inside; host files it creates are the user's). When the server runs as
 * root, a sandbox runs as LOCAL_NOBODY on the host (never uid 0: RLIMIT_NPROC is not
 * enforced for uid 0, and host permissions must hold) and as uid LOCAL_ROOT_INNER_UID
 * named "sandbox" inside.
 */
#include "backends/local/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define LOCAL_SWEEP_MS 5000
#define LOCAL_STALE_S  3600

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

/* ---- sweeper ---------------------------------------------------------------------------- */

/* Expired sandboxes whose supervisor is gone, half-made and half-removed directories. */
static void
local_sweep(struct local *L)
{
	DIR *d = opendir(L->root);
	int rootfd = open(L->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && strncmp(de->d_name, ".trash-", 7) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (d != NULL)
		closedir(d);
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		struct stat st;

		if (store_id_ok(name)) {
			struct arena *a = arena_new(4 * 1024 * 1024);
			struct lsb sb;
			struct err e = { 0 };

			if (store_load(L, name, a, &sb, &e) == ERR_NOTFOUND && rootfd >= 0 &&
			    fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    time(NULL) - st.st_mtime > LOCAL_STALE_S) {
				char meta[PATH_MAX];

				/* A directory with no meta.json an hour on: a create that died. */
				snprintf(meta, sizeof(meta), "%s/meta.json", name);
				if (faccessat(rootfd, meta, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
					local_rmtree(rootfd, name);
			}
			arena_free(a);
		} else if (rootfd >= 0 && strncmp(name, ".trash-", 7) == 0) {
			local_rmtree(rootfd, name);
		}
	}
	if (rootfd >= 0)
		close(rootfd);
	local_names_free(names, n);
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
local_free(struct backend *b)
{
	struct local *L = LOC(b);

	if (L == NULL)
		return;
	if (L->sweeper_on) {
		pthread_mutex_lock(&L->sweep_mu);
		L->stop = true;
		pthread_cond_signal(&L->sweep_cv);
		pthread_mutex_unlock(&L->sweep_mu);
		pthread_join(L->sweeper, NULL);
	}
	local_helpers_drop(L, NULL);
	/* Closing a lifeline ends its sandbox: the ephemeral ones die with us. */
	while (L->lifelines != NULL) {
		struct lline *l = L->lifelines;

		L->lifelines = l->next;
		if (l->fd >= 0)
			close(l->fd);
		free(l);
	}
	free(L->mounts);
	if (L->net_arena != NULL)
		arena_free(L->net_arena);
	pthread_mutex_destroy(&L->mu);
	pthread_mutex_destroy(&L->hmu);
	pthread_mutex_destroy(&L->cg_mu);
	pthread_mutex_destroy(&L->sweep_mu);
	pthread_cond_destroy(&L->sweep_cv);
	free(L);
}

static const struct backend_ops local_ops = {
	.name = "local",
	.create = local_create,
	.list = local_list,
	.info = local_info,
	.kill = local_kill,
	.pause = local_pause,
	.resume = local_resume,
	.set_timeout = local_set_timeout,
	.url = local_url,
	.metrics = local_metrics,
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
	.net_get = local_net_get,
	.net_set = local_net_set,
	.free = local_free,
};

/* ---- configuration ---------------------------------------------------------------------- */

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
				return err_set(e, ERR_IO,
				    "cannot create the local state directory %s: "
				    "%s; pass --local-root DIR",
				    p, strerror(errno));
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
		return err_set(e, ERR_INVAL,
		    "cannot find a directory for local sandboxes: HOME is "
		    "not set; pass --local-root DIR");
	if (n < 0 || n >= PATH_MAX)
		return err_set(e, ERR_INVAL,
		    "the local state directory path is too long; pass "
		    "--local-root DIR");
	return 0;
}

/* A sandbox path for --mount: absolute, no "." or ".." parts, no "//", not a place the
 * sandbox's own system view owns. */
static int
mount_path_ok(const char *p, struct err *e)
{
	static const char *const owned[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
		"/libx32", "/etc", "/proc", "/dev", "/sys", "/home" };
	const char *s;

	if (p[0] != '/' || strcmp(p, "/") == 0 || strstr(p, "//") != NULL ||
	    p[strlen(p) - 1] == '/')
		return err_set(e, ERR_INVAL,
		    "--mount needs an absolute sandbox path such as "
		    "/project, not \"%.80s\"",
		    p);
	for (s = p; s != NULL; s = strchr(s + 1, '/'))
		if (strncmp(s, "/./", 3) == 0 || strcmp(s, "/.") == 0 ||
		    strncmp(s, "/../", 4) == 0 || strcmp(s, "/..") == 0)
			return err_set(e, ERR_INVAL,
			    "--mount sandbox path \"%.80s\" has . or .. in "
			    "it; give the plain path",
			    p);
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		if (local_beneath(p, owned[i]) &&
		    !(strcmp(owned[i], "/home") == 0 && strcmp(p, "/home")))
			return err_set(e, ERR_INVAL,
			    "--mount cannot put a directory at %.80s: %s is "
			    "part of the sandbox's own system view; use a path such as /project or "
			    "/workspace/NAME",
			    p, owned[i]);
	return 0;
}

static int
mounts_parse(struct local *L, const struct config *cfg, struct err *e)
{
	if (cfg == NULL || cfg->mounts.n == 0)
		return 0;
	if (!L->isolate)
		return err_set(e, ERR_INVAL,
		    "--mount needs the default isolation: with "
		    "--local-isolation none commands see this machine's files anyway");
	L->mounts = xcalloc(cfg->mounts.n, sizeof(*L->mounts));
	for (size_t i = 0; i < cfg->mounts.n; i++) {
		struct local_mount *m = &L->mounts[i];
		char spec[2 * PATH_MAX], *host, *path, *opt;
		struct stat st;

		if (snprintf(spec, sizeof(spec), "%s", cfg->mounts.v[i]) >= (int)sizeof(spec))
			return err_set(e, ERR_INVAL, "--mount value is too long");
		host = spec;
		path = strchr(spec, ':');
		if (path == NULL || path == spec)
			return err_set(e, ERR_INVAL,
			    "--mount needs HOST:SANDBOX[:ro], not \"%.80s\"", cfg->mounts.v[i]);
		*path++ = '\0';
		opt = strchr(path, ':');
		if (opt != NULL) {
			*opt++ = '\0';
			if (strcmp(opt, "ro") != 0 && strcmp(opt, "rw") != 0)
				return err_set(e, ERR_INVAL,
				    "--mount option \"%.20s\" is not known: use "
				    ":ro (read-only) or nothing (read-write)",
				    opt);
			m->ro = strcmp(opt, "ro") == 0;
		}
		if (realpath(host, m->host) == NULL || stat(m->host, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			return err_set(e, ERR_INVAL,
			    "--mount %.80s: not a directory on this machine", host);
		if (mount_path_ok(path, e) != 0)
			return e->code;
		if (local_beneath(L->root, m->host) || local_beneath(m->host, L->root))
			return err_set(e, ERR_INVAL,
			    "--mount %.80s would put the local state directory "
			    "(every sandbox's files) inside sandboxes; mount a narrower directory or "
			    "move --local-root",
			    host);
		snprintf(m->path, sizeof(m->path), "%s", path);
		for (size_t j = 0; j < i; j++)
			if (strcmp(L->mounts[j].path, m->path) == 0)
				return err_set(e, ERR_INVAL, "--mount %.80s is given twice",
				    m->path);
		L->nmounts++;
	}
	return 0;
}

/* --local-egress, --local-host-port, --local-resolve. */
static int
net_flags(struct local *L, const struct config *cfg, struct err *e)
{
	struct local_netcfg *n = &L->net;
	const char *egress = cfg != NULL ? cfg->local_egress : NULL;

	L->net_arena = arena_new(2 * 1024 * 1024);
	if (cfg != NULL && !L->isolate &&
	    (egress != NULL || cfg->host_ports.n > 0 || cfg->resolves.n > 0))
		return err_set(e, ERR_INVAL,
		    "--local-egress, --local-host-port and --local-resolve "
		    "need the default isolation: with --local-isolation none commands use this "
		    "machine's network directly");
	if (npol_parse_flag(egress != NULL ? egress : "allow", &n->ceiling, L->net_arena, e) != 0)
		return e->code;
	for (size_t i = 0; cfg != NULL && i < cfg->host_ports.n; i++) {
		char *end;
		long v = strtol(cfg->host_ports.v[i], &end, 10);

		if (*end != '\0' || v <= 0 || v > 65535 || end == cfg->host_ports.v[i])
			return err_set(e, ERR_INVAL,
			    "--local-host-port needs a port number (1-65535), "
			    "not \"%.40s\"",
			    cfg->host_ports.v[i]);
		n->host_ports[n->nhost_ports++] = (uint16_t)v;
	}
	for (size_t i = 0; cfg != NULL && i < cfg->resolves.n; i++) {
		const char *v = cfg->resolves.v[i], *eq = strchr(v, '=');
		struct local_pin *p = &n->pins[n->npins];
		char name[NPOL_NAME_MAX + 2], addr[64];
		size_t al;

		if (eq == NULL || (size_t)(eq - v) >= sizeof(name))
			return err_set(e, ERR_INVAL,
			    "--local-resolve needs NAME=ADDR, not \"%.60s\"", v);
		memcpy(name, v, (size_t)(eq - v));
		name[eq - v] = '\0';
		snprintf(addr, sizeof(addr), "%s", eq + 1);
		al = strlen(addr);
		if (al > 2 && addr[0] == '[' && addr[al - 1] == ']') {
			memmove(addr, addr + 1, al - 2);
			addr[al - 2] = '\0';
		}
		if (!npol_name_norm(name, p->name, sizeof(p->name)))
			return err_set(e, ERR_INVAL,
			    "--local-resolve %.60s: \"%.60s\" is not a host "
			    "name",
			    v, name);
		if (inet_pton(AF_INET, addr, p->addr) == 1)
			p->family = AF_INET;
		else if (inet_pton(AF_INET6, addr, p->addr) == 1)
			p->family = AF_INET6;
		else
			return err_set(e, ERR_INVAL,
			    "--local-resolve %.60s: \"%.40s\" is not an IPv4 "
			    "or IPv6 address",
			    v, addr);
		n->npins++;
	}
	return 0;
}

/* The sandbox user: the server's own user, or "sandbox" when the server is root. */
static void
identity(struct local *L, const struct passwd *pw)
{
	bool name_ok = pw != NULL && pw->pw_name[0] != '\0' &&
	    strlen(pw->pw_name) < sizeof(L->user) &&
	    (islower((unsigned char)pw->pw_name[0]) || pw->pw_name[0] == '_');

	for (const char *s = pw != NULL ? pw->pw_name : ""; name_ok && *s != '\0'; s++)
		name_ok = islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' ||
		    *s == '-';
	L->host_root = geteuid() == 0;
	if (L->host_root) {
		L->uid = L->isolate ? LOCAL_NOBODY : 0;
		L->gid = L->isolate ? LOCAL_NOBODY : 0;
		L->in_uid = LOCAL_ROOT_INNER_UID;
		snprintf(L->user, sizeof(L->user), "sandbox");
	} else {
		L->uid = geteuid();
		L->gid = getegid();
		L->in_uid = (unsigned)geteuid();
		snprintf(L->user, sizeof(L->user), "%s", name_ok ? pw->pw_name : "sandbox");
	}
	if (pw != NULL)
		snprintf(L->host_user, sizeof(L->host_user), "%s", pw->pw_name);
	else
		snprintf(L->host_user, sizeof(L->host_user), "uid %d", (int)geteuid());
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
		return err_set(e, ERR_INVAL,
		    "--local-isolation %.40s is not known: use namespaces "
		    "(the default) or none",
		    iso);
	L = xcalloc(1, sizeof(*L));
	L->isolate = iso == NULL || strcmp(iso, "none") != 0;
	getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &pwp);
	home = getenv("HOME");
	if ((home == NULL || home[0] != '/') && pwp != NULL)
		home = pwp->pw_dir;
	if (cfg != NULL && cfg->local_root != NULL && cfg->local_root[0] != '\0')
		snprintf(root, sizeof(root), "%s", cfg->local_root);
	else if (default_root(root, home, e) != 0)
		goto out;
	if (mkdir_parents(root, e) != 0)
		goto out;
	if (realpath(root, L->root) == NULL) {
		err_set(e, ERR_IO,
		    "cannot use the local state directory %s: %s; pass --local-root "
		    "DIR",
		    root, strerror(errno));
		goto out;
	}
	if (strcmp(L->root, "/") == 0) {
		err_set(e, ERR_INVAL,
		    "the local state directory cannot be /; pass --local-root DIR");
		goto out;
	}
	chmod(L->root, 0700); /* every sandbox's files are beneath it */
	identity(L, pwp);
	if (mounts_parse(L, cfg, e) != 0 || net_flags(L, cfg, e) != 0)
		goto out;
	if (!L->isolate)
		log_msg(LOG_WARN, "local",
		    "--local-isolation none: commands run directly on this "
		    "machine as %s, with its files and network; only seccomp applies",
		    L->host_user);
	{
		struct err he = { 0 };

		if (spawn_host_ok(&he) != 0)
			log_msg(LOG_WARN, "local", "%s", he.msg);
	}
	L->mem_total = limits_mem_total();
	pthread_mutex_init(&L->mu, NULL);
	pthread_mutex_init(&L->hmu, NULL);
	for (size_t i = 0; i < LH_CACHE; i++)
		L->helpers[i].sock = -1;
	pthread_mutex_init(&L->cg_mu, NULL);
	pthread_mutex_init(&L->sweep_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&L->sweep_cv, &ca);
	pthread_condattr_destroy(&ca);
	L->sweeper_on = pthread_create(&L->sweeper, NULL, sweeper_main, L) == 0;
	out->ops = &local_ops;
	out->b = (struct backend *)(void *)L;
	return 0;
out:
	free(L->mounts);
	if (L->net_arena != NULL)
		arena_free(L->net_arena);
	free(L);
	return e->code;
}

/* ---- doctor ------------------------------------------------------------------------------ */

/* How a sandbox's connections leave it on this kernel. */
static const char *
net_capture(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0)
		_exit(local_seccomp_notify_connect() >= 0 ? 0 : 1);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return "connect() cannot be captured here (no seccomp user notification, Linux "
		       "5.0+): only programs that use HTTP_PROXY reach out";
	if (syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == ENOSYS)
		return "connect() cannot be relayed here (no pidfd_getfd, Linux 5.6+): only "
		       "programs that use HTTP_PROXY reach out";
	return "every connect() is captured (seccomp user notification) and relayed by the "
	       "sandbox's supervisor, HTTP_PROXY too";
}

void
local_describe(const struct config *cfg, struct buf *out)
{
	struct lim_host h;
	char text[512];
	int abi = local_landlock_abi();
	bool none = cfg != NULL && cfg->local_isolation != NULL &&
	    strcmp(cfg->local_isolation, "none") == 0;
	struct err he = { 0 };

	if (spawn_host_ok(&he) != 0) {
		buf_printf(out, NULL, "problem: %s\n", he.msg);
		return;
	}

	if (none) {
		buf_puts(out,
		    "local isolation: NONE (--local-isolation none): commands run "
		    "directly on this machine; only seccomp applies\n",
		    NULL);
		return;
	}
	buf_puts(out,
	    "local isolation: user, mount, PID, IPC, UTS and network namespaces; a read-only "
	    "allowlisted root with locked mounts; no capabilities\n",
	    NULL);
	buf_printf(out, NULL, "seccomp: %s\n",
	    local_seccomp_len() > 0
	        ? "a filter on every command (mount, namespaces, ptrace, bpf, io_uring, keyctl, "
	          "perf_event_open and more are refused)"
	        : "not available for this architecture");
	buf_printf(out, NULL, "landlock: %s\n", local_landlock_describe(abi));
	/* Probing may move this (short-lived) process into a leaf cgroup v2, as a server would. */
	memset(&h, 0, sizeof(h));
	limits_probe(&h);
	if (h.mode == LIM_CG_NONE)
		buf_printf(out, NULL,
		    "limits: rlimits for processes, open files and core dumps, "
		    "and the supervisor's memory watch (kills the largest process past the "
		    "limit); CPU is not limited (%s)\n",
		    limits_describe(&h, text, sizeof(text)));
	else
		buf_printf(out, NULL, "limits: %s\n", limits_describe(&h, text, sizeof(text)));
	buf_printf(out, NULL,
	    "network: each sandbox has its own namespace (loopback only); %s; "
	    "DNS is answered by the relay; this machine, private networks and metadata addresses "
	    "are refused; the most any sandbox gets: --local-egress %s\n",
	    net_capture(), cfg != NULL && cfg->local_egress != NULL ? cfg->local_egress : "allow");
	buf_printf(out, NULL, "sandbox user: %s\n",
	    geteuid() == 0 ? "\"sandbox\" (uid 1000 inside, nobody on this machine)"
	                   : "this user (same uid and name inside)");
}
