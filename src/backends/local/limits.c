/*
 * limits.c -- resource limits of local sandboxes: cgroup detection (v2 delegated subtree,
 * else v1 controllers), one cgroup per sandbox, rlimits, and the /proc walk that stands
 * in for a memory cgroup where none is writable (the supervisor's memory watch).
 *
 * Contract: internal.h, section "limits.c". Files under /proc and /sys are read with
 * open/read into bounded stack buffers (a cgroup file is a line or a few key-value lines);
 * cgroup.procs and children lists are parsed in chunks, so a long list costs no memory.
 * Paths are built in PATH_MAX buffers, and one that would not fit is an error
 * (ENAMETOOLONG), never a truncated path. Nothing here logs: failures come back as
 * sentences, and limits_probe never fails (mode NONE and why say what is missing).
 */
#include "backends/local/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "util/time.h"

#define CG_LEAF           "sandbox-mcp-server" /* v2: the leaf this process moves into */
#define CG_PERIOD_US      100000
#define CG_POLL_MS        10
#define CG_FREEZE_WAIT_MS 2000
#define WALK_CAP          65536 /* pids a tree walk remembers (256 KiB) */
#define FILE_MAX          8192  /* a cgroup or /proc file read whole */

/* ---- small file helpers ------------------------------------------------------------- */

/* dir/name into out (PATH_MAX); 0 or ENAMETOOLONG. */
static int
path_join(char *out, const char *dir, const char *name)
{
	int n;

	n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX)
		return ENAMETOOLONG;
	return 0;
}

/* Reads dir/name (name NULL: dir is the file) into buf, NUL-terminated and cut at cap-1
 * bytes. Returns the length, or -1 with errno set. */
static ssize_t
read_file(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[PATH_MAX];
	size_t len = 0;
	ssize_t n;
	int fd, saved;

	if (name != NULL && (errno = path_join(path, dir, name)) != 0)
		return -1;
	if ((fd = open(name != NULL ? path : dir, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (len + 1 < cap) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return (ssize_t)len;
}

/* Writes s to dir/name in one write(2), as cgroup files want; 0 or an errno. */
static int
write_file(const char *dir, const char *name, const char *s)
{
	char path[PATH_MAX];
	size_t len = strlen(s);
	ssize_t n;
	int fd, rc;

	if ((rc = path_join(path, dir, name)) != 0)
		return rc;
	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) == -1)
		return errno;
	do
		n = write(fd, s, len);
	while (n == -1 && errno == EINTR);
	rc = n == -1 ? errno : (size_t)n != len ? EIO : 0;
	close(fd);
	return rc;
}

/* The number after "key" at the start of a line of buf ("oom_kill 3", "MemTotal: 8 kB");
 * 0, or -1 when no line has it. */
static int
key_int(const char *buf, const char *key, int64_t *v)
{
	size_t klen = strlen(key);
	const char *p = buf;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '\t')) {
			*v = strtoll(p + klen, NULL, 10);
			return 0;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}

/* The first number in dir/name (memory.current), or -1. */
static int64_t
file_int(const char *dir, const char *name)
{
	char buf[64];

	if (dir[0] == '\0' || read_file(dir, name, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

/* Calls fn for each number in a file (cgroup.procs, a children list) until fn returns
 * non-zero; reads in chunks, so a long list needs no buffer. The count seen, or -1. */
static long
each_pid(const char *path, int (*fn)(pid_t, void *), void *arg)
{
	char buf[4096];
	long count = 0, v = 0;
	bool in = false;
	ssize_t n, i;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				if (v < INT_MAX / 10)
					v = v * 10 + (buf[i] - '0');
				in = true;
				continue;
			}
			if (!in)
				continue;
			count++;
			in = false;
			if (fn((pid_t)v, arg) != 0)
				goto out;
			v = 0;
		}
	}
	if (in) {
		count++;
		fn((pid_t)v, arg);
	}
out:
	close(fd);
	return count;
}

/* Whether word appears in a list separated by sep characters ("memory pids", "rw,cpu"). */
static bool
has_word(const char *list, const char *word, const char *sep)
{
	size_t wlen = strlen(word), n;

	while (*list != '\0') {
		n = strcspn(list, sep);
		if (n == wlen && strncmp(list, word, n) == 0)
			return true;
		list += n;
		list += strspn(list, sep);
	}
	return false;
}

static void
nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int64_t
limits_mem_total(void)
{
	char buf[FILE_MAX];
	int64_t kb;

	if (read_file("/proc/meminfo", NULL, buf, sizeof(buf)) <= 0 ||
	    key_int(buf, "MemTotal:", &kb) != 0 || kb <= 0)
		return -1;
	return kb * 1024;
}

/* ---- probe ----------------------------------------------------------------------------- */

/* This process's path in a hierarchy from /proc/self/cgroup: the v1 line whose controller
 * list holds ctl, or the v2 line "0::" when ctl is NULL. 0, or -1. */
static int
self_cgroup(const char *ctl, char *path)
{
	char *line = NULL, *c1, *c2;
	size_t n = 0, len;
	int rc = -1;
	FILE *f;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (rc == -1 && getline(&line, &n, f) != -1) {
		line[strcspn(line, "\n")] = '\0';
		if ((c1 = strchr(line, ':')) == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		*c1++ = '\0';
		*c2++ = '\0';
		if (ctl == NULL ? strcmp(line, "0") != 0 || *c1 != '\0' : !has_word(c1, ctl, ","))
			continue;
		if ((len = strlen(c2)) < PATH_MAX) {
			memcpy(path, c2, len + 1);
			rc = 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* Undoes mountinfo's octal escapes ("\040" for a space) in place. */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++, w++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*w = *s;
	}
	*w = '\0';
}

/* The directory of cgroup cgpath in the hierarchy mounted as fstype "cgroup2", or as
 * "cgroup" with ctl among its super options. A mount of a subtree (root field not "/")
 * serves only paths beneath it. 0 with dir (PATH_MAX) set, or -1. */
static int
find_mount(const char *fstype, const char *ctl, const char *cgpath, char *dir)
{
	char *line = NULL, *f[64], *p;
	size_t n = 0, rl;
	const char *rel;
	int nf, dash, rc = -1;
	FILE *fp;

	if ((fp = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -1;
	while (rc == -1 && getline(&line, &n, fp) != -1) {
		line[strcspn(line, "\n")] = '\0';
		for (nf = 0, p = line; nf < 64 && p != NULL; nf++)
			f[nf] = strsep(&p, " ");
		for (dash = 6; dash < nf && strcmp(f[dash], "-") != 0; dash++)
			;
		if (dash + 3 >= nf)
			continue;
		if (strcmp(f[dash + 1], fstype) != 0 ||
		    (ctl != NULL && !has_word(f[dash + 3], ctl, ",")))
			continue;
		unescape(f[3]);
		unescape(f[4]);
		rl = strcmp(f[3], "/") == 0 ? 0 : strlen(f[3]);
		if (strncmp(cgpath, f[3], rl) != 0 || (cgpath[rl] != '/' && cgpath[rl] != '\0'))
			continue;
		rel = cgpath + rl;
		if (strcmp(rel, "/") == 0)
			rel = "";
		if (snprintf(dir, PATH_MAX, "%s%s", f[4], rel) < PATH_MAX)
			rc = 0;
	}
	free(line);
	fclose(fp);
	return rc;
}

static bool
writable(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (name == NULL)
		return access(dir, W_OK) == 0;
	return path_join(path, dir, name) == 0 && access(path, W_OK) == 0;
}

/* Whether the word list in dir/name (cgroup.controllers) holds a and, unless NULL, b. */
static bool
cg_lists(const char *dir, const char *name, const char *a, const char *b)
{
	char buf[1024];

	return read_file(dir, name, buf, sizeof(buf)) >= 0 && has_word(buf, a, " \n") &&
	    (b == NULL || has_word(buf, b, " \n"));
}

static void __attribute__((format(printf, 3, 4))) say(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* Whether this process is the only one in cgroup dir. */
static bool
alone_in(const char *dir)
{
	char buf[4096], *p, *end;
	pid_t me = getpid();
	ssize_t n = read_file(dir, "cgroup.procs", buf, sizeof(buf));

	if (n < 0 || (size_t)n >= sizeof(buf) - 1)
		return false;
	for (p = buf; *p != '\0'; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v != me)
			return false;
		while (*end == '\n' || *end == ' ')
			end++;
	}
	return true;
}

/* v2 when our cgroup also holds other processes: sandboxes become siblings of it, under
 * its parent, when that parent is ours to write (a delegated slice, as systemd gives user
 * sessions) and hands down memory and pids. 0 with h filled, or -1 with why set. */
static int
probe_v2_parent(struct lim_host *h, const char *dir, char *why, size_t cap)
{
	char parent[PATH_MAX], *slash;
	bool cpu;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent) {
		say(why, cap,
		    "the cgroup %s also holds other processes and has no parent to put "
		    "sandboxes in",
		    dir);
		return -1;
	}
	*slash = '\0';
	if (!cg_lists(parent, "cgroup.controllers", "memory", "pids") || !writable(parent, NULL) ||
	    !writable(parent, "cgroup.procs") || !writable(parent, "cgroup.subtree_control")) {
		say(why, cap,
		    "the cgroup %s also holds other processes, and its parent %s is not "
		    "delegated to uid %d with memory and pids",
		    dir, parent, (int)geteuid());
		return -1;
	}
	if (!cg_lists(parent, "cgroup.subtree_control", "memory", "pids") &&
	    write_file(parent, "cgroup.subtree_control", "+memory +pids") != 0) {
		say(why, cap, "enabling memory and pids in %s failed", parent);
		return -1;
	}
	if (cg_lists(parent, "cgroup.controllers", "cpu", NULL) &&
	    !cg_lists(parent, "cgroup.subtree_control", "cpu", NULL))
		write_file(parent, "cgroup.subtree_control", "+cpu");
	cpu = cg_lists(parent, "cgroup.subtree_control", "cpu", NULL);
	h->mode = LIM_CG_V2;
	memcpy(h->memory, parent, sizeof(h->memory));
	memcpy(h->pids, parent, sizeof(h->pids));
	if (cpu)
		memcpy(h->cpu, parent, sizeof(h->cpu));
	if (writable(dir, "cgroup.freeze")) /* our own cgroup is not the root */
		memcpy(h->freezer, parent, sizeof(h->freezer));
	if (!cpu || h->freezer[0] == '\0')
		say(h->why, sizeof(h->why), "cgroup v2 at %s has no %s, so %s", parent,
		    !cpu ? "cpu controller" : "freezer (kernel before 5.2)",
		    !cpu ? "resources.cpu is not enforced" : "sandboxes cannot be paused");
	return 0;
}

/* Fills h for cgroup v2 with dir, the cgroup sandboxes go beneath (this process is in its
 * child leaf). Returns 0. */
static int
v2_fill(struct lim_host *h, const char *dir, const char *leaf)
{
	bool cpu = cg_lists(dir, "cgroup.subtree_control", "cpu", NULL);

	h->mode = LIM_CG_V2;
	memcpy(h->memory, dir, sizeof(h->memory));
	memcpy(h->pids, dir, sizeof(h->pids));
	if (cpu)
		memcpy(h->cpu, dir, sizeof(h->cpu));
	/* The root cgroup has no cgroup.freeze, so ask our leaf (any non-root cgroup). */
	if (access(leaf, F_OK) == 0 && writable(leaf, "cgroup.freeze"))
		memcpy(h->freezer, dir, sizeof(h->freezer));
	if (!cpu || h->freezer[0] == '\0')
		say(h->why, sizeof(h->why), "cgroup v2 at %s has no %s, so %s", dir,
		    !cpu ? "cpu controller" : "freezer (kernel before 5.2)",
		    !cpu ? "resources.cpu is not enforced" : "sandboxes cannot be paused");
	return 0;
}

/* Fills h for cgroup v2 (mode V2) and returns 0, or returns -1 with why set; 1 when there
 * is no v2 hierarchy at all. Moves this process into <dir>/CG_LEAF: in v2 only a cgroup
 * without processes may hand controllers to children (the no-internal-processes rule). */
static int
probe_v2(struct lim_host *h, char *why, size_t cap)
{
	char cg[PATH_MAX], dir[PATH_MAX], leaf[PATH_MAX] = "", pid[24], *slash;
	bool made = false;
	int rc;

	if (self_cgroup(NULL, cg) != 0 || find_mount("cgroup2", NULL, cg, dir) != 0)
		return 1;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* Already in our leaf (an earlier probe): the parent is the place. */
	slash = strrchr(dir, '/');
	if (slash != NULL && strcmp(slash + 1, CG_LEAF) == 0) {
		memcpy(leaf, dir, sizeof(leaf));
		*slash = '\0';
		if (cg_lists(dir, "cgroup.subtree_control", "memory", "pids") &&
		    writable(dir, NULL) && writable(dir, "cgroup.procs"))
			return v2_fill(h, dir, leaf);
		memcpy(dir, leaf, sizeof(dir));
	}
	/* Sharing our cgroup with other processes (a terminal's scope, an editor's), we
	 * may not turn it into a parent: put sandboxes beside it instead. */
	if (!alone_in(dir))
		return probe_v2_parent(h, dir, why, cap);
	if (!cg_lists(dir, "cgroup.controllers", "memory", "pids")) {
		say(why, cap, "the cgroup v2 hierarchy at %s has no memory and pids controllers",
		    dir);
		return -1;
	}
	if (!writable(dir, NULL) || !writable(dir, "cgroup.procs") ||
	    !writable(dir, "cgroup.subtree_control")) {
		say(why, cap, "this cgroup v2 subtree is not delegated to uid %d", (int)geteuid());
		return -1;
	}
	if ((rc = path_join(leaf, dir, CG_LEAF)) == 0 && mkdir(leaf, 0755) == 0)
		made = true;
	else if (rc == 0 && errno != EEXIST)
		rc = errno;
	if (rc == 0)
		rc = write_file(leaf, "cgroup.procs", pid);
	if (rc != 0) {
		say(why, cap, "moving this process into %s failed: %s", leaf, strerror(rc));
		goto out;
	}
	if ((rc = write_file(dir, "cgroup.subtree_control", "+memory +pids")) != 0) {
		if (rc == EBUSY)
			say(why, cap,
			    "the cgroup %s also holds other processes, so controllers "
			    "cannot be enabled for sandboxes (cgroup v2 no-internal-processes rule)",
			    dir);
		else
			say(why, cap, "enabling memory and pids in %s failed: %s", dir,
			    strerror(rc));
		write_file(dir, "cgroup.procs", pid);
		goto out;
	}
	if (cg_lists(dir, "cgroup.controllers", "cpu", NULL))
		write_file(dir, "cgroup.subtree_control", "+cpu");
	return v2_fill(h, dir, leaf);
out:
	if (made)
		rmdir(leaf);
	return -1;
}

/* Fills the v1 directories of h and returns 0 when memory and pids are usable, or -1
 * with why set; 1 when no v1 controller is mounted. */
static int
probe_v1(struct lim_host *h, char *why, size_t cap)
{
	static const char *const ctl[] = { "memory", "pids", "cpu", "freezer" };
	char *out[] = { h->memory, h->pids, h->cpu, h->freezer };
	char cg[PATH_MAX], dir[PATH_MAX];
	int i, mounted = 0, usable = 0;

	for (i = 0; i < 4; i++) {
		out[i][0] = '\0';
		if (self_cgroup(ctl[i], cg) != 0 || find_mount("cgroup", ctl[i], cg, dir) != 0)
			continue;
		mounted++;
		if (!writable(dir, NULL))
			continue;
		memcpy(out[i], dir, strlen(dir) + 1);
		usable++;
	}
	if (mounted == 0)
		return 1;
	if (h->memory[0] != '\0' && h->pids[0] != '\0') {
		h->mode = LIM_CG_V1;
		if (h->cpu[0] == '\0' || h->freezer[0] == '\0')
			say(h->why, sizeof(h->why), "cgroup v1 has no writable %s, so %s",
			    h->cpu[0] == '\0' ? "cpu controller" : "freezer",
			    h->cpu[0] == '\0' ? "resources.cpu is not enforced"
			                      : "sandboxes cannot be paused");
		return 0;
	}
	if (usable == 0 && geteuid() != 0)
		say(why, cap, "cgroup v1 controllers need root");
	else if (usable == 0)
		say(why, cap, "cgroup v1 controllers are not writable here");
	else
		say(why, cap, "cgroup v1 has no writable memory and pids controllers");
	for (i = 0; i < 4; i++)
		out[i][0] = '\0';
	return -1;
}

void
limits_probe(struct lim_host *h)
{
	char why2[256], why1[256];
	int v2, v1;

	memset(h, 0, sizeof(*h));
	if ((v2 = probe_v2(h, why2, sizeof(why2))) == 0)
		return;
	memset(h, 0, sizeof(*h));
	if ((v1 = probe_v1(h, why1, sizeof(why1))) == 0)
		return;
	memset(h, 0, sizeof(*h));
	h->mode = LIM_CG_NONE;
	if (v1 < 0 && v2 < 0)
		say(h->why, sizeof(h->why), "no writable cgroup: %s, and %s", why1, why2);
	else if (v1 < 0 || v2 < 0)
		say(h->why, sizeof(h->why), "no writable cgroup: %s", v1 < 0 ? why1 : why2);
	else
		say(h->why, sizeof(h->why), "no cgroup hierarchy is mounted");
}

const char *
limits_describe(const struct lim_host *h, char *out, size_t cap)
{
	const char *ctl = h->cpu[0] == '\0' ? (h->freezer[0] == '\0' ? "" : ", freezer")
	    : h->freezer[0] == '\0'         ? ", cpu"
	                                    : ", cpu, freezer";

	if (h->mode == LIM_CG_V2)
		say(out, cap, "cgroup v2 at %s (memory, pids%s)", h->memory, ctl);
	else if (h->mode == LIM_CG_V1)
		say(out, cap, "cgroup v1 (memory, pids%s)", ctl);
	else
		say(out, cap, "none: %s", h->why);
	return out;
}

/* ---- one sandbox's cgroups -------------------------------------------------------------- */

/* cg's directories by index: memory, pids, cpu, freezer. */
static const char *
cg_dir(const struct lim_cg *cg, int i)
{
	return i == 0 ? cg->memory : i == 1 ? cg->pids : i == 2 ? cg->cpu : cg->freezer;
}

/* Whether cg's directory i is unused or repeats an earlier one (v2, or v1 controllers
 * mounted together), so each directory is made, joined and removed once. */
static bool
cg_dup(const struct lim_cg *cg, int i)
{
	int j;

	if (cg_dir(cg, i)[0] == '\0')
		return true;
	for (j = 0; j < i; j++)
		if (strcmp(cg_dir(cg, i), cg_dir(cg, j)) == 0)
			return true;
	return false;
}

static int
cg_fail(struct err *e, const char *dir, const char *name, const char *val, int rc)
{
	return err_set(e, ERR_IO, "writing %s to %s/%s failed: %s", val, dir, name, strerror(rc));
}

/* Writes val to dir/name; ENOENT is fine when optional (a file this kernel lacks). */
static int
cg_put(const char *dir, const char *name, const char *val, bool optional, struct err *e)
{
	int rc;

	if ((rc = write_file(dir, name, val)) == 0 || (optional && rc == ENOENT))
		return 0;
	return cg_fail(e, dir, name, val, rc);
}

/* A limit as cgroup text: the number, or none ("max" in v2 and pids.max, -1 in v1). */
static void
cg_val(char *v, size_t cap, int64_t n, const char *none)
{
	if (n > 0)
		snprintf(v, cap, "%" PRId64, n);
	else
		snprintf(v, cap, "%s", none);
}

/* v2 limits; on a reused directory a zero limit is written as "max" to clear an old one. */
static int
cg_limit_v2(const struct lim_cg *cg, const struct lim *l, bool reused, struct err *e)
{
	char v[48];
	int rc;

	if (l->memory > 0 || reused) {
		cg_val(v, sizeof(v), l->memory, "max");
		if ((rc = cg_put(cg->memory, "memory.max", v, false, e)) != 0 ||
		    (rc = cg_put(cg->memory, "memory.swap.max", l->memory > 0 ? "0" : "max", true,
		         e)) != 0)
			return rc;
	}
	if (l->pids > 0 || reused) {
		cg_val(v, sizeof(v), l->pids, "max");
		if ((rc = cg_put(cg->pids, "pids.max", v, false, e)) != 0)
			return rc;
	}
	if (cg->cpu[0] != '\0' && (l->cpu_milli > 0 || reused)) {
		if (l->cpu_milli > 0)
			snprintf(v, sizeof(v), "%" PRId64 " %d", l->cpu_milli * 100, CG_PERIOD_US);
		else
			snprintf(v, sizeof(v), "max %d", CG_PERIOD_US);
		if ((rc = cg_put(cg->cpu, "cpu.max", v, false, e)) != 0)
			return rc;
	}
	return 0;
}

/* v1 limits, -1 meaning none. memory.memsw.limit_in_bytes (memory + swap, present with
 * swap accounting) may never be below memory.limit_in_bytes, so a raise goes memsw first. */
static int
cg_limit_v1(const struct lim_cg *cg, const struct lim *l, bool reused, struct err *e)
{
	char v[48], period[16];
	int rc;

	if (cg->memory[0] != '\0' && (l->memory > 0 || reused)) {
		cg_val(v, sizeof(v), l->memory, "-1");
		rc = write_file(cg->memory, "memory.limit_in_bytes", v);
		if (rc == EINVAL && write_file(cg->memory, "memory.memsw.limit_in_bytes", v) == 0)
			rc = write_file(cg->memory, "memory.limit_in_bytes", v);
		if (rc != 0)
			return cg_fail(e, cg->memory, "memory.limit_in_bytes", v, rc);
		if ((rc = cg_put(cg->memory, "memory.memsw.limit_in_bytes", v, true, e)) != 0)
			return rc;
	}
	if (cg->pids[0] != '\0' && (l->pids > 0 || reused)) {
		cg_val(v, sizeof(v), l->pids, "max");
		if ((rc = cg_put(cg->pids, "pids.max", v, false, e)) != 0)
			return rc;
	}
	if (cg->cpu[0] != '\0' && (l->cpu_milli > 0 || reused)) {
		snprintf(period, sizeof(period), "%d", CG_PERIOD_US);
		cg_val(v, sizeof(v), l->cpu_milli * 100, "-1");
		if ((rc = cg_put(cg->cpu, "cpu.cfs_period_us", period, false, e)) != 0 ||
		    (rc = cg_put(cg->cpu, "cpu.cfs_quota_us", v, false, e)) != 0)
			return rc;
	}
	return 0;
}

int
limits_cg_create(const struct lim_host *h, const char *name, const struct lim *l, struct lim_cg *cg,
    struct err *e)
{
	const char *parent[4] = { h->memory, h->pids, h->cpu, h->freezer };
	char *dirs[4] = { cg->memory, cg->pids, cg->cpu, cg->freezer };
	bool made[4] = { false }, reused = false;
	int i, rc = 0;

	memset(cg, 0, sizeof(*cg));
	if (h->mode == LIM_CG_NONE)
		return err_set(e, ERR_UNSUPPORTED, "no writable cgroup on this machine: %s",
		    h->why);
	if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return err_set(e, ERR_INVAL, "\"%.64s\" cannot name a cgroup", name);
	cg->mode = h->mode;
	for (i = 0; i < 4 && rc == 0; i++) {
		if (parent[i][0] == '\0')
			continue;
		if (path_join(dirs[i], parent[i], name) != 0)
			rc = err_set(e, ERR_INVAL, "the cgroup path %s/%.64s is too long",
			    parent[i], name);
		else if (cg_dup(cg, i))
			continue;
		else if (mkdir(dirs[i], 0755) == 0)
			made[i] = true;
		else if (errno == EEXIST)
			reused = true;
		else
			rc = err_set(e, ERR_IO, "creating the cgroup %s failed: %s", dirs[i],
			    strerror(errno));
	}
	if (rc == 0 && cg->mode == LIM_CG_V2)
		rc = cg_limit_v2(cg, l, reused, e);
	else if (rc == 0)
		rc = cg_limit_v1(cg, l, reused, e);
	if (rc == 0)
		return 0;
	for (i = 3; i >= 0; i--)
		if (made[i])
			rmdir(dirs[i]);
	memset(cg, 0, sizeof(*cg));
	return rc;
}

int
limits_cg_attach(const struct lim_cg *cg, pid_t pid, struct err *e)
{
	char v[24];
	int i, rc;

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (i = 0; i < 4; i++) {
		if (cg_dup(cg, i))
			continue;
		if ((rc = write_file(cg_dir(cg, i), "cgroup.procs", v)) != 0)
			return err_set(e, ERR_IO, "moving process %d into the cgroup %s failed: %s",
			    (int)pid, cg_dir(cg, i), strerror(rc));
	}
	return 0;
}

void
limits_cg_destroy(const struct lim_cg *cg, int wait_ms)
{
	int64_t deadline = time_mono_ms() + wait_ms;
	int i;

	for (i = 0; i < 4; i++) {
		if (cg_dup(cg, i))
			continue;
		/* EBUSY while the last processes are still exiting. */
		while (rmdir(cg_dir(cg, i)) == -1 && errno == EBUSY && time_mono_ms() < deadline)
			nap_ms(CG_POLL_MS);
	}
}

int64_t
limits_cg_oom_kills(const struct lim_cg *cg)
{
	char buf[1024];
	int64_t v;

	if (cg->memory[0] == '\0' ||
	    read_file(cg->memory, cg->mode == LIM_CG_V2 ? "memory.events" : "memory.oom_control",
	        buf, sizeof(buf)) < 0 ||
	    key_int(buf, "oom_kill", &v) != 0)
		return -1;
	return v;
}

int64_t
limits_cg_memory(const struct lim_cg *cg)
{
	return file_int(cg->memory,
	    cg->mode == LIM_CG_V2 ? "memory.current" : "memory.usage_in_bytes");
}

int64_t
limits_cg_cpu_usec(const struct lim_cg *cg)
{
	char buf[1024];
	int64_t v;

	/* v2: cpu.stat is there with or without the cpu controller. v1: only where cpuacct
	 * shares the cpu hierarchy ("cpu,cpuacct"). */
	if (cg->mode == LIM_CG_V1)
		return (v = file_int(cg->cpu, "cpuacct.usage")) < 0 ? -1 : v / 1000;
	if (cg->memory[0] == '\0' || read_file(cg->memory, "cpu.stat", buf, sizeof(buf)) < 0 ||
	    key_int(buf, "usage_usec", &v) != 0)
		return -1;
	return v;
}

/* Whether the freezer state of cg reads as wanted: v2 cgroup.events "frozen 1" or "frozen
 * 0", v1 freezer.state "FROZEN" or "THAWED" (FREEZING in between). */
static bool
cg_frozen_is(const struct lim_cg *cg, bool frozen)
{
	char buf[256];
	int64_t v;

	if (cg->mode == LIM_CG_V2)
		return read_file(cg->freezer, "cgroup.events", buf, sizeof(buf)) >= 0 &&
		    key_int(buf, "frozen", &v) == 0 && v == (frozen ? 1 : 0);
	if (read_file(cg->freezer, "freezer.state", buf, sizeof(buf)) < 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, frozen ? "FROZEN" : "THAWED") == 0;
}

static int
cg_freezer_set(const struct lim_cg *cg, bool frozen, struct err *e)
{
	if (cg->mode == LIM_CG_V2)
		return cg_put(cg->freezer, "cgroup.freeze", frozen ? "1" : "0", false, e);
	return cg_put(cg->freezer, "freezer.state", frozen ? "FROZEN" : "THAWED", false, e);
}

int
limits_cg_freeze(const struct lim_cg *cg, bool frozen, struct err *e)
{
	int64_t deadline = time_mono_ms() + CG_FREEZE_WAIT_MS;
	int rc;

	if (cg->freezer[0] == '\0')
		return err_set(e, ERR_UNSUPPORTED,
		    "this machine gives sandboxes no cgroup "
		    "freezer, so they cannot be paused");
	if ((rc = cg_freezer_set(cg, frozen, e)) != 0)
		return rc;
	while (!cg_frozen_is(cg, frozen)) {
		if (time_mono_ms() >= deadline) {
			/* Half frozen is the worst state to leave a sandbox in. */
			if (frozen)
				cg_freezer_set(cg, false, NULL);
			return err_set(e, ERR_TIMEOUT, "the cgroup %s did not %s within %d s",
			    cg->freezer, frozen ? "freeze" : "thaw", CG_FREEZE_WAIT_MS / 1000);
		}
		nap_ms(CG_POLL_MS);
	}
	return 0;
}

static int
kill_one(pid_t pid, void *arg)
{
	/* A pid of ours here would be a caller's bug; never kill the caller. */
	if (pid > 0 && pid != getpid())
		kill(pid, SIGKILL);
	return 0;
}

void
limits_cg_kill(const struct lim_cg *cg, int wait_ms)
{
	char path[PATH_MAX];
	int64_t deadline = time_mono_ms() + wait_ms;
	long n, left;
	int i;

	if (cg->mode == LIM_CG_V2 && cg->memory[0] != '\0')
		write_file(cg->memory, "cgroup.kill", "1");
	/* v1: a frozen task takes its SIGKILL only once thawed. */
	if (cg->mode == LIM_CG_V1 && cg->freezer[0] != '\0')
		write_file(cg->freezer, "freezer.state", "THAWED");
	for (;;) {
		left = 0;
		for (i = 0; i < 4; i++) {
			if (cg_dup(cg, i) || path_join(path, cg_dir(cg, i), "cgroup.procs") != 0)
				continue;
			if ((n = each_pid(path, kill_one, NULL)) > 0)
				left += n;
		}
		if (left == 0 || time_mono_ms() >= deadline)
			break;
		nap_ms(CG_POLL_MS);
	}
}

/* ---- rlimits and the process tree ----------------------------------------------------- */

/* soft = hard = want, but never above the current hard limit (only root may raise it). */
static int
rlimit_cap(int res, rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) != 0)
		return errno;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = want;
	return setrlimit(res, &rl) != 0 ? errno : 0;
}

int
limits_rlimits_apply(const struct lim *l)
{
	int rc;

	if (l->pids > 0 && (rc = rlimit_cap(RLIMIT_NPROC, (rlim_t)l->pids)) != 0)
		return rc;
	if ((rc = rlimit_cap(RLIMIT_NOFILE, LIMITS_NOFILE)) != 0)
		return rc;
	return rlimit_cap(RLIMIT_CORE, 0);
}

/* The walk's queue doubles as its visited set: every pid found, in the order found. */
struct walk {
	pid_t *pid;
	size_t n, cap;
};

static int
walk_add(pid_t pid, void *arg)
{
	struct walk *w = arg;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->pid[i] == pid)
			return 0;
	if (w->n == w->cap)
		return 1;
	w->pid[w->n++] = pid;
	return 0;
}

/* Queues the children of every thread of pid: a child belongs to the thread that forked
 * it, so /proc/PID/task/PID/children alone misses those of other threads. */
static void
walk_children(pid_t pid, struct walk *w)
{
	char dir[64], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && w->n < w->cap) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/children", dir, de->d_name) <
		    (int)sizeof(path))
			each_pid(path, walk_add, w);
	}
	closedir(d);
}

size_t
limits_tree_walk(pid_t root, size_t max, limits_proc_fn fn, void *arg)
{
	struct walk w;
	size_t i;

	w.cap = max < WALK_CAP ? max : WALK_CAP;
	if (w.cap == 0 || (w.pid = malloc(w.cap * sizeof(*w.pid))) == NULL)
		return 0;
	w.pid[0] = root;
	w.n = 1;
	for (i = 0; i < w.n; i++) {
		if (fn(w.pid[i], arg) != 0) {
			i++;
			break;
		}
		walk_children(w.pid[i], &w);
	}
	free(w.pid);
	return i;
}

int64_t
limits_proc_memory(pid_t pid)
{
	char path[64], buf[FILE_MAX];
	int64_t anon = 0, shmem = 0;

	/* Proportional counts first: after fork(), parent and child share their anonymous
	 * pages until written, and counting them in full for each would kill a forking server
	 * long before it uses its memory. smaps_rollup needs ptrace access to pid (the
	 * supervisor has it over its sandbox's processes). */
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (read_file(path, NULL, buf, sizeof(buf)) >= 0 && key_int(buf, "Pss_Anon:", &anon) == 0) {
		key_int(buf, "Pss_Shmem:", &shmem);
		return (anon + shmem) * 1024;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, NULL, buf, sizeof(buf)) < 0)
		return -1;
	/* Kernel threads and zombies have neither line: they hold no memory of their own. */
	key_int(buf, "RssAnon:", &anon);
	key_int(buf, "RssShmem:", &shmem);
	return (anon + shmem) * 1024;
}

struct mem_walk {
	int64_t sum, top;
	pid_t top_pid, skip;
	size_t n;
};

static int
mem_one(pid_t pid, void *arg)
{
	struct mem_walk *w = arg;
	int64_t m;

	if (pid == w->skip)
		return 0;
	w->n++;
	m = limits_proc_memory(pid);
	if (m <= 0)
		return 0;
	w->sum += m;
	if (m > w->top) {
		w->top = m;
		w->top_pid = pid;
	}
	return 0;
}

pid_t
limits_memory_over(pid_t init, int64_t limit, const int *tmpfs, int n, int64_t *used, int64_t *top,
    size_t *nprocs)
{
	struct mem_walk w = { 0, 0, 0, init, 0 };
	struct statfs fs;

	limits_tree_walk(init, 65536, mem_one, &w);
	for (int i = 0; i < n; i++)
		if (tmpfs[i] >= 0 && fstatfs(tmpfs[i], &fs) == 0)
			w.sum += (int64_t)(fs.f_blocks - fs.f_bfree) * (int64_t)fs.f_bsize;
	*used = w.sum;
	*top = w.top;
	*nprocs = w.n;
	return w.sum > limit && limit > 0 ? w.top_pid : 0;
}
