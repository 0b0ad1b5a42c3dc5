/*
 * rootfs.c -- the sandbox's file system, built from an allowlist, then checked.
 *
 * Runs in a sandbox's init while it still holds every capability of its first user
 * namespace, in a private copy of this machine's mount namespace. The new root is a tmpfs
 * mounted over a staging directory (/tmp of that private copy; the host's /tmp is never
 * part of a sandbox) and filled in two passes:
 *
 *   1. what must be read-only: binds of /usr and the /bin /sbin /lib* directories (or the
 *      usr-merge symlinks), /etc (generated passwd, group, hostname, hosts, resolv.conf
 *      (the relay's DNS server), nsswitch.conf and read-only
 *      binds of an allowlist), /sys, and the mount points for pass 2 -- then the whole tree
 *      is made read-only, nosuid and nodev in one recursive step;
 *   2. what is the sandbox's own: /proc (fresh, dangerous files masked), /dev (a minimal set
 *      on a read-only tmpfs, plus a sized /dev/shm and a private /dev/pts), tmpfs /tmp and
 *      /home/<user>, /workspace, and the operator's --mount directories.
 *
 * Read-only is recursive on every kernel: mount_setattr(AT_RECURSIVE) from 5.12, else a
 * remount of every mount below the path as /proc/self/mountinfo lists them, keeping the
 * flags the kernel locked (bubblewrap's bind-mount.c does the same). Any failure fails the
 * whole setup, and rootfs_verify() re-reads mountinfo after the pivot so that a mount left
 * writable by any path is caught rather than trusted.
 *
 * Single-threaded (init is a clone of the supervisor), so malloc and stdio are fine here.
 */
#include "backends/local/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define L_MOUNT_ATTR_RDONLY 0x1ULL
#define L_MOUNT_ATTR_NOSUID 0x2ULL
#define L_MOUNT_ATTR_NODEV  0x4ULL
#define L_MOUNT_ATTR_NOEXEC 0x8ULL

struct l_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define ROOT_TMPFS_OPTS "mode=0755,size=4m,nr_inodes=8192"

/* Top-level directories of this machine bound read-only (or recreated as symlinks). */
static const char *const sys_dirs[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" };

/* /etc entries a sandbox may read: name resolution, certificates, the dynamic linker,
 * time zone, shell start-up files, and descriptions of this system. Never shadow, sudoers,
 * ssh host keys, ssl/private, machine-id or credentials of package managers. */
static const char *const etc_allow[] = { "host.conf", "gai.conf", "ld.so.cache", "ld.so.conf",
	"ld.so.conf.d", "localtime", "timezone", "ssl/certs", "ssl/openssl.cnf", "ca-certificates",
	"ca-certificates.conf", "pki/tls/certs", "pki/ca-trust/extracted", "alternatives",
	"profile", "profile.d", "bash.bashrc", "inputrc", "shells", "protocols", "services",
	"mime.types", "magic", "os-release", "debian_version", "lsb-release", "fonts",
	"manpath.config" };

/* /proc files masked with /dev/null, and directories with an empty read-only tmpfs. */
static const char *const proc_mask_files[] = { "kcore", "keys", "key-users", "kmsg", "kallsyms",
	"kpagecount", "kpageflags", "kpagecgroup", "timer_list", "timer_stats", "sched_debug",
	"latency_stats", "sysrq-trigger", "config.gz", "slabinfo", "vmallocinfo", "pagetypeinfo" };
static const char *const proc_mask_dirs[] = { "acpi", "asound", "scsi", "driver" };
static const char *const proc_ro[] = { "sys", "bus", "fs", "irq" };
static const char *const sys_mask[] = { "firmware", "kernel/debug", "kernel/tracing",
	"kernel/security", "devices/virtual/powercap", "fs/cgroup", "fs/bpf", "fs/pstore" };

struct ctx {
	const struct rootfs_plan *p;
	struct rootfs_err *re;
	char nr[PATH_MAX];   /* the new root while it is being built */
	char home[PATH_MAX]; /* /home/<user> */
};

/* Copies a path into re->detail, cut to fit. */
static void
set_detail(struct rootfs_err *re, const char *detail)
{
	size_t n = detail != NULL ? strlen(detail) : 0;

	if (n >= sizeof(re->detail))
		n = sizeof(re->detail) - 1;
	if (n > 0)
		memcpy(re->detail, detail, n);
	re->detail[n] = '\0';
}

static int
fail(struct ctx *x, int step, int errnum, const char *detail)
{
	x->re->step = step;
	x->re->errnum = errnum != 0 ? errnum : EIO;
	set_detail(x->re, detail);
	return x->re->errnum;
}

/* out = nr + sub (sub is absolute). */
static int
at(struct ctx *x, char *out, const char *sub)
{
	int n = snprintf(out, PATH_MAX, "%s%s", x->nr, sub);

	return n < 0 || n >= PATH_MAX ? ENAMETOOLONG : 0;
}

static void
mkdir_p(const char *path, mode_t mode)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (size_t i = 1; p[i] != '\0'; i++) {
		if (p[i] == '/') {
			p[i] = '\0';
			mkdir(p, mode);
			p[i] = '/';
		}
	}
	mkdir(p, mode);
}

static int
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	int rc = 0;

	if (fd < 0)
		return errno;
	if (write(fd, text, len) != (ssize_t)len)
		rc = errno != 0 ? errno : EIO;
	close(fd);
	return rc;
}

/* An empty file or directory to mount on, like the source. */
static int
mount_point(const char *path, bool dir)
{
	int fd;

	if (dir)
		return mkdir(path, 0755) < 0 && errno != EEXIST ? errno : 0;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : errno;
	close(fd);
	return 0;
}

/* ---- read-only, recursively -------------------------------------------------------- */

/* Undoes the octal escapes of a mountinfo path field (\040 for a space, ...). */
static void
unescape(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

struct minfo {
	char point[PATH_MAX];
	char opts[256]; /* per-mount options: "rw,nosuid,relatime" */
};

/* Calls fn for every line of /proc/self/mountinfo; fn returns non-zero to stop. */
typedef int (*minfo_fn)(const struct minfo *m, void *arg);

static int
mountinfo_each(minfo_fn fn, void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	if (f == NULL)
		return -errno;
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		struct minfo m;
		char *save = NULL, *tok;
		int field = 0;

		memset(&m, 0, sizeof(m));
		for (tok = strtok_r(line, " \n", &save); tok != NULL && field < 6;
		     tok = strtok_r(NULL, " \n", &save), field++) {
			if (field == 4)
				snprintf(m.point, sizeof(m.point), "%s", tok);
			else if (field == 5)
				snprintf(m.opts, sizeof(m.opts), "%s", tok);
		}
		if (field < 6)
			continue;
		unescape(m.point);
		rc = fn(&m, arg);
	}
	free(line);
	fclose(f);
	return rc;
}

static bool
has_opt(const char *opts, const char *want)
{
	size_t n = strlen(want);

	for (const char *s = opts; s != NULL && *s != '\0';) {
		if (strncmp(s, want, n) == 0 && (s[n] == ',' || s[n] == '\0'))
			return true;
		s = strchr(s, ',');
		if (s != NULL)
			s++;
	}
	return false;
}

struct remount {
	const char *base;
	unsigned long extra; /* MS_NOSUID, MS_NODEV to add */
	int err;
	char failed[PATH_MAX];
};

/* Remounts one mount read-only with the flags it already has (the kernel refuses to clear
 * flags that are locked in a user namespace) plus r->extra. */
static int
remount_one(const struct minfo *m, void *arg)
{
	struct remount *r = arg;
	unsigned long fl = MS_REMOUNT | MS_BIND | MS_RDONLY | r->extra;

	if (!local_beneath(m->point, r->base))
		return 0;
	if (has_opt(m->opts, "nosuid"))
		fl |= MS_NOSUID;
	if (has_opt(m->opts, "nodev"))
		fl |= MS_NODEV;
	if (has_opt(m->opts, "noexec"))
		fl |= MS_NOEXEC;
	if (has_opt(m->opts, "nodiratime"))
		fl |= MS_NODIRATIME;
	if (has_opt(m->opts, "noatime"))
		fl |= MS_NOATIME;
	else if (has_opt(m->opts, "relatime"))
		fl |= MS_RELATIME;
	else
		fl |= MS_STRICTATIME;
	if (mount(NULL, m->point, NULL, fl, NULL) < 0) {
		r->err = errno;
		snprintf(r->failed, sizeof(r->failed), "%s", m->point);
		return 1;
	}
	return 0;
}

/* Makes path and every mount below it read-only (and nosuid, plus nodev unless keep_dev).
 * 0 or an errno; fails closed when a single mount cannot be changed. */
static int
make_ro(struct ctx *x, const char *path, bool keep_dev)
{
	struct l_mount_attr at;
	struct remount r;
	int rc;

	memset(&at, 0, sizeof(at));
	at.attr_set = L_MOUNT_ATTR_RDONLY | L_MOUNT_ATTR_NOSUID |
	    (keep_dev ? 0 : L_MOUNT_ATTR_NODEV);
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &at, sizeof(at)) == 0)
		return 0;
	if (errno != ENOSYS)
		return fail(x, STEP_RDONLY, errno, path);
	/* Kernels before 5.12: remount every mount beneath path, as listed. */
	memset(&r, 0, sizeof(r));
	r.base = path;
	r.extra = MS_NOSUID | (keep_dev ? 0 : MS_NODEV);
	rc = mountinfo_each(remount_one, &r);
	if (rc < 0)
		return fail(x, STEP_RDONLY, -rc, "/proc/self/mountinfo");
	if (r.err != 0)
		return fail(x, STEP_RDONLY, r.err, r.failed);
	return 0;
}

/* ---- pass 1: what is read-only -------------------------------------------------------- */

static int
bind_at(struct ctx *x, const char *src, const char *dst, bool rec, int step)
{
	if (mount(src, dst, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
		return fail(x, step, errno, dst + strlen(x->nr));
	return 0;
}

static int
sys_dirs_bind(struct ctx *x)
{
	char src[PATH_MAX], dst[PATH_MAX], link[PATH_MAX];
	struct stat st;
	bool usr = false;

	for (size_t i = 0; i < sizeof(sys_dirs) / sizeof(sys_dirs[0]); i++) {
		snprintf(src, sizeof(src), "/%s", sys_dirs[i]);
		if (lstat(src, &st) < 0 || at(x, dst, src) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(src, link, sizeof(link) - 1);

			if (n <= 0)
				continue;
			link[n] = '\0';
			if (symlink(link, dst) < 0)
				return fail(x, STEP_BIND, errno, src);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		if (mount_point(dst, true) != 0 || bind_at(x, src, dst, true, STEP_BIND) != 0)
			return x->re->errnum != 0 ? x->re->errnum : fail(x, STEP_BIND, errno, src);
		usr = usr || i == 0;
	}
	if (!usr)
		return fail(x, STEP_BIND, ENOENT, "/usr");
	return 0;
}

static int
etc_generate(struct ctx *x)
{
	const struct rootfs_plan *p = x->p;
	char path[PATH_MAX], text[1024];
	int n, rc;

	n = snprintf(text, sizeof(text),
	    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	    "%s:x:%u:%u:%s:%s:/bin/bash\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    p->user, p->in_uid, p->in_uid, p->user, x->home);
	if (n < 0 || n >= (int)sizeof(text) || at(x, path, "/etc/passwd") != 0 ||
	    (rc = write_file(path, text, (size_t)n, 0644)) != 0)
		return fail(x, STEP_ETC, EINVAL, "/etc/passwd");
	n = snprintf(text, sizeof(text), "root:x:0:\n%s:x:%u:\nnogroup:x:65534:\n", p->user,
	    p->in_uid);
	if (n < 0 || n >= (int)sizeof(text) || at(x, path, "/etc/group") != 0 ||
	    (rc = write_file(path, text, (size_t)n, 0644)) != 0)
		return fail(x, STEP_ETC, EINVAL, "/etc/group");
	n = snprintf(text, sizeof(text), "%s\n", p->hostname);
	if (at(x, path, "/etc/hostname") != 0 || write_file(path, text, (size_t)n, 0644) != 0)
		return fail(x, STEP_ETC, errno, "/etc/hostname");
	/* Names resolve through the relay's DNS server (dnsd.c), never this machine's: its
	 * hosts file would name addresses on its networks, which sandboxes cannot reach. */
	{
		static const struct {
			const char *path, *text;
		} gen[] = {
			{ "/etc/resolv.conf",
			    "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n" },
			{ "/etc/nsswitch.conf",
			    "passwd: files\ngroup: files\nshadow: files\n"
			    "hosts: files dns\nnetworks: files\nprotocols: files\n"
			    "services: files\nethers: files\nrpc: files\n" },
		};

		for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++)
			if (at(x, path, gen[i].path) != 0 ||
			    (rc = write_file(path, gen[i].text, strlen(gen[i].text), 0644)) != 0)
				return fail(x, STEP_ETC, EINVAL, gen[i].path);
	}
	n = snprintf(text, sizeof(text),
	    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
	    "ip6-loopback\n127.0.1.1\t%s\n",
	    p->hostname);
	if (n < 0 || n >= (int)sizeof(text) || at(x, path, "/etc/hosts") != 0 ||
	    (rc = write_file(path, text, (size_t)n, 0644)) != 0)
		return fail(x, STEP_ETC, EINVAL, "/etc/hosts");
	if (at(x, path, "/etc/mtab") == 0)
		symlink("../proc/self/mounts", path);
	return 0;
}

/* Binds /etc/<name> of this machine read-only (it becomes so with the rest of pass 1).
 * Symlinks into /usr stay symlinks; others are followed to what they name. */
static int
etc_bind(struct ctx *x, const char *name)
{
	char src[PATH_MAX], real[PATH_MAX], dst[PATH_MAX], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(src, sizeof(src), "/etc/%s", name);
	if (lstat(src, &st) < 0 || at(x, dst, src) != 0)
		return 0;
	if (strchr(name, '/') != NULL) {
		char parent[PATH_MAX];

		snprintf(parent, sizeof(parent), "%s", dst);
		*strrchr(parent, '/') = '\0';
		mkdir_p(parent, 0755);
	}
	if (S_ISLNK(st.st_mode) && (n = readlink(src, link, sizeof(link) - 1)) > 0) {
		link[n] = '\0';
		if (realpath(src, real) != NULL && local_beneath(real, "/usr")) {
			symlink(link, dst);
			return 0;
		}
	}
	if (realpath(src, real) == NULL || stat(real, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	if (mount_point(dst, S_ISDIR(st.st_mode)) != 0)
		return fail(x, STEP_ETC, errno, src);
	return bind_at(x, real, dst, S_ISDIR(st.st_mode), STEP_ETC);
}

static int
sys_bind(struct ctx *x)
{
	char dst[PATH_MAX];
	int rc;

	if ((rc = at(x, dst, "/sys")) != 0 || (rc = mount_point(dst, true)) != 0)
		return fail(x, STEP_SYS, rc, "/sys");
	/* Recursive: /sys's own submounts are locked to it in our user namespace. */
	if (mount("/sys", dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return 0; /* no /sys on this machine: the sandbox has none either */
	return 0;
}

/* After pass 1 is read-only: empty read-only tmpfs over sensitive parts of /sys. */
static int
sys_mask_all(struct ctx *x)
{
	char dst[PATH_MAX], sub[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(sys_mask) / sizeof(sys_mask[0]); i++) {
		snprintf(sub, sizeof(sub), "/sys/%s", sys_mask[i]);
		if (at(x, dst, sub) != 0 || stat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		        "mode=0555,size=4k") < 0)
			return fail(x, STEP_SYS, errno, sub);
	}
	return 0;
}

/* Whether an operator mount lands in a file system of pass 2 (made after it). */
static bool
in_pass2(const struct ctx *x, const char *path)
{
	return local_beneath(path, LOCAL_WS) || local_beneath(path, "/tmp") ||
	    local_beneath(path, x->home);
}

static int
pass1(struct ctx *x)
{
	static const char *const points[] = { "/proc", "/dev", "/tmp", "/home", "/workspace",
		"/etc" };
	char dst[PATH_MAX];
	int rc;

	if ((rc = sys_dirs_bind(x)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		if (at(x, dst, points[i]) != 0 || mount_point(dst, true) != 0)
			return fail(x, STEP_ROOTFS, errno, points[i]);
	}
	if (at(x, dst, x->home) != 0 || mount_point(dst, true) != 0)
		return fail(x, STEP_ROOTFS, errno, x->home);
	if ((rc = etc_generate(x)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(etc_allow) / sizeof(etc_allow[0]); i++)
		if ((rc = etc_bind(x, etc_allow[i])) != 0)
			return rc;
	if ((rc = sys_bind(x)) != 0)
		return rc;
	for (size_t i = 0; i < x->p->nmounts; i++) {
		if (in_pass2(x, x->p->mounts[i].path))
			continue;
		if (at(x, dst, x->p->mounts[i].path) != 0)
			return fail(x, STEP_MOUNT, ENAMETOOLONG, x->p->mounts[i].path);
		mkdir_p(dst, 0755);
	}
	if ((rc = make_ro(x, x->nr, false)) != 0)
		return rc;
	return sys_mask_all(x);
}

/* ---- pass 2: what is the sandbox's own --------------------------------------------------- */

static int
tmpfs(struct ctx *x, const char *sub, const char *mode, int64_t size, unsigned long fl, int step)
{
	char dst[PATH_MAX], opts[96];

	if (at(x, dst, sub) != 0)
		return fail(x, step, ENAMETOOLONG, sub);
	if (size > 0)
		snprintf(opts, sizeof(opts), "mode=%s,size=%lld", mode, (long long)size);
	else
		snprintf(opts, sizeof(opts), "mode=%s", mode);
	if (mount("tmpfs", dst, "tmpfs", fl, opts) < 0)
		return fail(x, step, errno, sub);
	return 0;
}

static int
dev_build(struct ctx *x)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" },
		{ "ptmx", "pts/ptmx" },
	};
	char dst[PATH_MAX], src[64], sub[64];
	int rc;

	if ((rc = tmpfs(x, "/dev", "0755", 64 * 1024, MS_NOSUID | MS_NOEXEC, STEP_DEV)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		if (at(x, dst, src) != 0 || mount_point(dst, false) != 0)
			return fail(x, STEP_DEV, errno, src);
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
			if (i < 5) /* a sandbox without /dev/tty is fine */
				return fail(x, STEP_DEV, errno, src);
			unlink(dst);
		}
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(sub, sizeof(sub), "/dev/%s", links[i][0]);
		if (at(x, dst, sub) == 0)
			symlink(links[i][1], dst);
	}
	if (at(x, dst, "/dev/pts") != 0 || mount_point(dst, true) != 0 ||
	    at(x, dst, "/dev/shm") != 0 || mount_point(dst, true) != 0)
		return fail(x, STEP_DEV, errno, "/dev");
	if (at(x, dst, "/dev") != 0 || (rc = make_ro(x, dst, true)) != 0)
		return rc;
	if ((rc = tmpfs(x, "/dev/shm", "1777", x->p->shm_size, MS_NOSUID | MS_NODEV, STEP_DEV)) !=
	    0)
		return rc;
	if (at(x, dst, "/dev/pts") != 0 ||
	    mount("devpts", dst, "devpts", MS_NOSUID | MS_NOEXEC,
	        "newinstance,ptmxmode=0666,mode=0620") < 0)
		return fail(x, STEP_DEV, errno, "/dev/pts");
	return 0;
}

static int
proc_build(struct ctx *x)
{
	char dst[PATH_MAX], sub[64];
	struct stat st;
	int rc;

	if (at(x, dst, "/proc") != 0 ||
	    mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail(x, STEP_PROC, errno, "/proc");
	for (size_t i = 0; i < sizeof(proc_mask_files) / sizeof(proc_mask_files[0]); i++) {
		snprintf(sub, sizeof(sub), "/proc/%s", proc_mask_files[i]);
		if (at(x, dst, sub) != 0 || lstat(dst, &st) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (mount("/dev/null", dst, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		        NULL) < 0)
			return fail(x, STEP_PROC, errno, sub);
	}
	for (size_t i = 0; i < sizeof(proc_mask_dirs) / sizeof(proc_mask_dirs[0]); i++) {
		snprintf(sub, sizeof(sub), "/proc/%s", proc_mask_dirs[i]);
		if (at(x, dst, sub) != 0 || stat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		        "mode=0555,size=4k") < 0)
			return fail(x, STEP_PROC, errno, sub);
	}
	for (size_t i = 0; i < sizeof(proc_ro) / sizeof(proc_ro[0]); i++) {
		snprintf(sub, sizeof(sub), "/proc/%s", proc_ro[i]);
		if (at(x, dst, sub) != 0 || stat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount(dst, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail(x, STEP_PROC, errno, sub);
		if ((rc = make_ro(x, dst, false)) != 0)
			return rc;
	}
	return 0;
}

static int
operator_mounts(struct ctx *x)
{
	char src[64], dst[PATH_MAX];
	int rc;

	for (size_t i = 0; i < x->p->nmounts; i++) {
		const struct local_mount *m = &x->p->mounts[i];

		if (at(x, dst, m->path) != 0)
			return fail(x, STEP_MOUNT, ENAMETOOLONG, m->path);
		if (in_pass2(x, m->path))
			mkdir_p(dst, 0755);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", x->p->mount_fds[i]);
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail(x, STEP_MOUNT, errno, m->path);
		/* Nothing set-id or device-like comes in from the operator's directories. */
		if (m->ro)
			rc = make_ro(x, dst, false);
		else if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) <
		    0)
			rc = fail(x, STEP_MOUNT, errno, m->path);
		else
			rc = 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
pass2(struct ctx *x)
{
	char src[64], dst[PATH_MAX];
	int rc;

	if ((rc = proc_build(x)) != 0 || (rc = dev_build(x)) != 0)
		return rc;
	if ((rc = tmpfs(x, "/tmp", "1777", x->p->tmp_size, MS_NOSUID | MS_NODEV, STEP_TMPFS)) != 0)
		return rc;
	if ((rc = tmpfs(x, x->home, "0700", x->p->home_size, MS_NOSUID | MS_NODEV, STEP_TMPFS)) !=
	    0)
		return rc;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", x->p->ws_fd);
	if (at(x, dst, LOCAL_WS) != 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) < 0)
		return fail(x, STEP_BIND, errno, LOCAL_WS);
	return operator_mounts(x);
}

/* ---- the whole ----------------------------------------------------------------------- */

static int
home_of(const struct rootfs_plan *p, char *out, size_t cap)
{
	int n = snprintf(out, cap, "/home/%s", p->user);

	return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

int
rootfs_build(const struct rootfs_plan *p, struct rootfs_err *re)
{
	static const char *const staging[] = { "/tmp", "/mnt", "/run", "/media", "/srv", "/opt" };
	struct ctx x;
	struct stat st;
	int rc;

	memset(re, 0, sizeof(*re));
	memset(&x, 0, sizeof(x));
	x.p = p;
	x.re = re;
	if (home_of(p, x.home, sizeof(x.home)) != 0)
		return fail(&x, STEP_ROOTFS, ENAMETOOLONG, "/home");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(&x, STEP_PRIVATE, errno, "/");
	for (size_t i = 0; i < sizeof(staging) / sizeof(staging[0]) && x.nr[0] == '\0'; i++)
		if (lstat(staging[i], &st) == 0 && S_ISDIR(st.st_mode))
			snprintf(x.nr, sizeof(x.nr), "%s", staging[i]);
	if (x.nr[0] == '\0')
		return fail(&x, STEP_ROOTFS, ENOENT, "/tmp");
	if (mount("tmpfs", x.nr, "tmpfs", MS_NOSUID | MS_NODEV, ROOT_TMPFS_OPTS) < 0)
		return fail(&x, STEP_ROOTFS, errno, "/");
	if ((rc = pass1(&x)) != 0 || (rc = pass2(&x)) != 0)
		return rc;
	if (chdir(x.nr) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return fail(&x, STEP_PIVOT, errno, "/");
	return 0;
}

struct verify {
	const struct rootfs_plan *p;
	const char *home;
	char bad[PATH_MAX];
};

static int
verify_one(const struct minfo *m, void *arg)
{
	struct verify *v = arg;
	const char *rw[] = { LOCAL_WS, "/tmp", v->home, "/dev/shm", "/dev/pts", "/proc" };

	if (has_opt(m->opts, "ro"))
		return 0;
	for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++)
		if (strcmp(m->point, rw[i]) == 0)
			return 0;
	for (size_t i = 0; i < v->p->nmounts; i++)
		if (!v->p->mounts[i].ro && local_beneath(m->point, v->p->mounts[i].path))
			return 0;
	snprintf(v->bad, sizeof(v->bad), "%s", m->point);
	return 1;
}

int
rootfs_verify(const struct rootfs_plan *p, struct rootfs_err *re)
{
	struct verify v;
	char home[PATH_MAX];
	int rc;

	memset(re, 0, sizeof(*re));
	memset(&v, 0, sizeof(v));
	home_of(p, home, sizeof(home));
	v.p = p;
	v.home = home;
	rc = mountinfo_each(verify_one, &v);
	if (rc < 0) {
		re->step = STEP_VERIFY;
		re->errnum = -rc;
		snprintf(re->detail, sizeof(re->detail), "/proc/self/mountinfo");
		return re->errnum;
	}
	if (v.bad[0] != '\0') {
		re->step = STEP_VERIFY;
		re->errnum = EPERM;
		set_detail(re, v.bad);
		return EPERM;
	}
	return 0;
}

size_t
rootfs_writable(const struct rootfs_plan *p, const char **out, size_t cap, char *home,
    size_t homecap)
{
	size_t n = 0;

	home_of(p, home, homecap);
	if (cap < 5 + p->nmounts)
		return 0;
	out[n++] = LOCAL_WS;
	out[n++] = "/tmp";
	out[n++] = home;
	out[n++] = "/dev";
	for (size_t i = 0; i < p->nmounts; i++)
		if (!p->mounts[i].ro)
			out[n++] = p->mounts[i].path;
	out[n] = NULL;
	return n;
}
