/*
 * test_local_limits.c -- backends/local/limits.c: quantity parsing and formatting, the
 * cgroup probe (the real one, and its v2 half over a fake hierarchy as root), cgroup files
 * written in fake directories (v1 and v2 shapes, any user), a real sandbox cgroup holding
 * memory (OOM kill), pids, cpu, freeze and kill, rlimits as an unprivileged user, and the
 * /proc tree walk and per-process memory.
 *
 * The real-cgroup part runs where limits_probe finds a writable cgroup (root on this
 * machine kind: v1) and is skipped elsewhere. Every cgroup made is killed and removed at
 * the end, also when a check fails (atexit). Children always leave with _exit so they
 * never run that cleanup or the leak checker.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#define MiB (1024LL * 1024)
#define GiB (1024 * MiB)

static struct lim_cg g_cg; /* the real cgroup under test, removed at exit */
static bool g_cg_live;

/* ---- helpers ----------------------------------------------------------------------------- */

static void
skip(const char *why)
{
	ok(1, "# SKIP %s", why);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Reads dir/name into buf without its trailing newline; "" when unreadable. */
static const char *
slurp(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) != -1) {
		n = read(fd, buf, cap - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void
put(const char *dir, const char *name, const char *s)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return;
	if (write(fd, s, strlen(s)) < 0)
		note("write %s: %s", path, strerror(errno));
	close(fd);
}

/* Reads one int from fd, waiting at most 20 s; -1 on timeout or EOF. */
static int
read_int(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int v;

	if (poll(&p, 1, 20000) != 1 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return -1;
	return v;
}

static void
write_int(int fd, int v)
{
	if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		_exit(99);
}

/* Forks a child that waits for the parent's go (a byte on *go) before fn(arg); the child
 * _exits with fn's result. */
static pid_t
spawn(int (*fn)(void *), void *arg, int *go)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		close(p[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (read(p[0], &c, 1) != 1)
			_exit(98);
		_exit(fn(arg));
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static void
release(int go)
{
	if (write(go, "g", 1) != 1)
		note("release: %s", strerror(errno));
	close(go);
}

/* Waits for pid at most ms; its wait status, or -1 (then it is killed and reaped). */
static int
wait_ms(pid_t pid, int ms, struct rusage *ru)
{
	int st, i;

	for (i = 0; i < ms / 10; i++) {
		if (wait4(pid, &st, WNOHANG, ru) == pid)
			return st;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	wait4(pid, &st, 0, ru);
	return -1;
}

static bool
killed(int st)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* ---- quantities -------------------------------------------------------------------------- */

static void
test_parse_memory(void)
{
	static const struct {
		const char *s;
		int64_t want;    /* -1: rejected */
		const char *msg; /* part of the sentence when rejected */
	} t[] = {
		{ "256Mi", 256 * MiB, NULL },
		{ "1Gi", GiB, NULL },
		{ "512M", 512000000, NULL },
		{ "1G", 1000000000, NULL },
		{ "1.5Gi", 3 * GiB / 2, NULL },
		{ "0.5Gi", GiB / 2, NULL },
		{ "33554432", 32 * MiB, NULL },
		{ "+64Mi", 64 * MiB, NULL },
		{ "1e9", 1000000000, NULL },
		{ "1E9", 1000000000, NULL },
		{ "2.5e3Mi", 2500 * MiB, NULL },
		{ "5e-1Gi", GiB / 2, NULL },
		{ "1E", 1000000000000000000LL, NULL },
		{ "0.001T", 1000000000, NULL },
		{ "64.0000001Mi", 67108865, NULL },
		{ "40000000.5", 40000001, NULL },
		{ "1.50000000000000000000000Gi", 3 * GiB / 2, NULL },
		{ "007Gi", 7 * GiB, NULL },
		{ "1Ei", 1LL << 60, NULL },
		{ "7Ei", 7LL << 60, NULL },
		{ "9223372036854775807", INT64_MAX, NULL },
		{ "", -1, "is not a quantity" },
		{ "lots", -1, "is not a quantity: use bytes or a suffix such as 512Mi or 2Gi" },
		{ "Gi", -1, "is not a quantity" },
		{ ".", -1, "is not a quantity" },
		{ "1.2.3", -1, "is not a quantity" },
		{ "1 Gi", -1, "is not a quantity" },
		{ "1Gi ", -1, "is not a quantity" },
		{ " 1Gi", -1, "is not a quantity" },
		{ "1gi", -1, "is not a quantity" },
		{ "1GiB", -1, "is not a quantity" },
		{ "1e", -1, "is not a quantity" },
		{ "1e+", -1, "is not a quantity" },
		{ "0x10", -1, "is not a quantity" },
		{ "1.0000000000000000001Gi", -1, "is not a quantity" },
		{ "12Mi", -1, "is below the 32Mi minimum" },
		{ "0", -1, "is below the 32Mi minimum" },
		{ "33554431", -1, "is below the 32Mi minimum" },
		{ "-1Gi", -1, "is negative" },
		{ "1K", -1, "uses K" },
		{ "512m", -1, "thousandths" },
		{ "8Ei", -1, "is too large" },
		{ "9223372036854775808", -1, "is too large" },
		{ "99999999999999999999999", -1, "is too large" },
		{ "1e400", -1, "is too large" },
	};
	struct err e;
	int64_t v;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&e, 0, sizeof(e));
		v = -7;
		rc = limits_parse_memory(t[i].s, &v, &e);
		if (t[i].want >= 0) {
			if (!ok(rc == 0 && v == t[i].want, "memory \"%s\" = %lld", t[i].s,
			        (long long)t[i].want))
				note("  rc %d, got %lld: %s", rc, (long long)v, e.msg);
		} else if (!ok(rc == ERR_INVAL && v == -7 && strstr(e.msg, t[i].msg) != NULL &&
		                   strncmp(e.msg, "resources.memory \"", 18) == 0,
		               "memory \"%s\" rejected: %s", t[i].s, t[i].msg))
			note("  rc %d: %s", rc, e.msg);
	}
	memset(&e, 0, sizeof(e));
	limits_parse_memory("12Mi", &v, &e);
	is_str(e.msg,
	    "resources.memory \"12Mi\" is below the 32Mi minimum a sandbox needs; "
	    "ask for at least 32Mi",
	    "the minimum sentence");
	memset(&e, 0, sizeof(e));
	limits_parse_memory("lots", &v, &e);
	is_str(e.msg,
	    "resources.memory \"lots\" is not a quantity: use bytes or a suffix such "
	    "as 512Mi or 2Gi",
	    "the not-a-quantity sentence");
}

static void
test_parse_cpu(void)
{
	static const struct {
		const char *s;
		int64_t want;
		const char *msg;
	} t[] = {
		{ "1", 1000, NULL },
		{ "2", 2000, NULL },
		{ "0.5", 500, NULL },
		{ "1.25", 1250, NULL },
		{ "500m", 500, NULL },
		{ "10m", 10, NULL },
		{ "0.01", 10, NULL },
		{ "0.0105", 11, NULL },
		{ "1e-2", 10, NULL },
		{ "+2", 2000, NULL },
		{ "1500.5m", 1501, NULL },
		{ "65536", 65536000, NULL },
		{ "5m", -1, "is below the 10m minimum" },
		{ "0.001", -1, "is below the 10m minimum" },
		{ "0", -1, "is below the 10m minimum" },
		{ "", -1, "is not a quantity" },
		{ "abc", -1, "is not a quantity" },
		{ "1.5Gi", -1, "is not a quantity" },
		{ "100u", -1, "is not a quantity" },
		{ "1 m", -1, "is not a quantity" },
		{ "2k", -1, "is not a quantity" },
		{ "-1", -1, "is negative" },
		{ "65537", -1, "is too large" },
		{ "99999999999999999999999", -1, "is too large" },
	};
	struct err e;
	int64_t v;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&e, 0, sizeof(e));
		v = -7;
		rc = limits_parse_cpu(t[i].s, &v, &e);
		if (t[i].want >= 0) {
			if (!ok(rc == 0 && v == t[i].want, "cpu \"%s\" = %lldm", t[i].s,
			        (long long)t[i].want))
				note("  rc %d, got %lld: %s", rc, (long long)v, e.msg);
		} else if (!ok(rc == ERR_INVAL && v == -7 && strstr(e.msg, t[i].msg) != NULL &&
		                   strncmp(e.msg, "resources.cpu \"", 15) == 0,
		               "cpu \"%s\" rejected: %s", t[i].s, t[i].msg))
			note("  rc %d: %s", rc, e.msg);
	}
}

static void
test_format(void)
{
	static const struct {
		int64_t v;
		const char *want;
	} mem[] = {
		{ 268435456, "256Mi" }, { 3 * GiB / 2, "1.5Gi" }, { 5 * GiB / 4, "1.25Gi" },
		{ 300000000, "300M" }, { 1500000000, "1.5G" }, { GiB + MiB, "1025Mi" },
		{ 9 * GiB / 8, "1152Mi" }, { 123456789, "123456789" }, { 1000, "1k" },
		{ 1024, "1Ki" }, { 32 * MiB, "32Mi" }, { 1LL << 60, "1Ei" }, { 0, "0" },
		{ INT64_MAX, "9223372036854775807" }, { 1000000000000000000LL, "1E" },
	}, cpu[] = {
		{ 1000, "1" }, { 500, "500m" }, { 1500, "1.5" }, { 1250, "1.25" }, { 2001, "2.001" },
		{ 10, "10m" }, { 2000, "2" }, { 999, "999m" }, { 1010, "1.01" },
	};
	char buf[64];
	struct err e = { 0 };
	uint64_t x = 88172645463325252ULL;
	int64_t v, back;
	int i, bad = 0;

	for (i = 0; i < (int)(sizeof(mem) / sizeof(mem[0])); i++) {
		limits_format_memory(mem[i].v, buf, sizeof(buf));
		is_str(buf, mem[i].want, "format memory %lld", (long long)mem[i].v);
	}
	for (i = 0; i < (int)(sizeof(cpu) / sizeof(cpu[0])); i++) {
		limits_format_cpu(cpu[i].v, buf, sizeof(buf));
		is_str(buf, cpu[i].want, "format cpu %lld", (long long)cpu[i].v);
	}
	/* Round trips: any byte count at or over the minimum, and whole or fractional units. */
	for (i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 5) {
		case 0:
			v = LIMITS_MEMORY_MIN + (int64_t)(x % (1ULL << 42));
			break;
		case 1:
			v = (int64_t)(x % 4096 + 32) * MiB;
			break;
		case 2:
			v = (int64_t)(x % 100000 + 34) * 1000000;
			break;
		case 3:
			v = (int64_t)(x % (1ULL << 20) + 1) << (x % 15 + 25);
			break;
		default:
			v = (int64_t)(x % 7 + 1) << (x % 36 + 25);
			break;
		}
		limits_format_memory(v, buf, sizeof(buf));
		memset(&e, 0, sizeof(e));
		back = -1;
		if (limits_parse_memory(buf, &back, &e) != 0 || back != v) {
			if (bad++ < 5)
				note("  %lld -> \"%s\" -> %lld %s", (long long)v, buf,
				    (long long)back, e.msg);
		}
	}
	is_int(bad, 0, "20000 memory values survive format and parse");
	for (bad = 0, v = 10; v <= 70000; v++) {
		limits_format_cpu(v, buf, sizeof(buf));
		if (limits_parse_cpu(buf, &back, &e) != 0 || back != v)
			bad++;
	}
	is_int(bad, 0, "cpu 10m..70 survive format and parse");
}

static void
test_mem_total(void)
{
	int64_t t = limits_mem_total();
	int64_t phys = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);

	ok(t > 0 && t == phys, "MemTotal is this machine's memory (%lld MiB)",
	    (long long)(t / MiB));
}

/* ---- cgroup files in fake directories --------------------------------------------------- */

static void
rm_dir(const char *dir, const char *const *files)
{
	char path[PATH_MAX];

	for (; *files != NULL; files++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *files);
		unlink(path);
	}
	rmdir(dir);
}

static void
test_fake_v2(const char *tmp)
{
	static const char *const files[] = { "memory.max", "memory.swap.max", "pids.max", "cpu.max",
		"cgroup.freeze", "cgroup.events", "memory.current", "memory.events", "cpu.stat",
		"cgroup.procs", NULL };
	struct lim_host h = { .mode = LIM_CG_V2 };
	struct lim l = { 64 * MiB, 500, 16 }, zero = { 0, 0, 0 };
	struct lim_cg cg;
	struct err e = { 0 };
	char dir[PATH_MAX], buf[256];
	int i, rc;

	snprintf(h.memory, sizeof(h.memory), "%s/v2", tmp);
	memcpy(h.pids, h.memory, PATH_MAX);
	memcpy(h.cpu, h.memory, PATH_MAX);
	memcpy(h.freezer, h.memory, PATH_MAX);
	snprintf(dir, sizeof(dir), "%s/v2/sbx", tmp);
	mkdir(h.memory, 0755);
	mkdir(dir, 0755);
	for (i = 0; files[i] != NULL; i++)
		put(dir, files[i], "");
	put(dir, "cgroup.events", "populated 1\nfrozen 0\n");
	put(dir, "memory.current", "12345\n");
	put(dir, "memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n");
	put(dir, "cpu.stat", "usage_usec 777\nuser_usec 700\nsystem_usec 77\n");

	is_int(limits_cg_create(&h, "sbx", &l, &cg, &e), 0, "v2 create reuses a directory: %s",
	    e.msg);
	is_str(cg.memory, dir, "v2: one directory");
	ok(strcmp(cg.pids, dir) == 0 && strcmp(cg.cpu, dir) == 0 && strcmp(cg.freezer, dir) == 0,
	    "v2: every controller in it");
	is_str(slurp(dir, "memory.max", buf, sizeof(buf)), "67108864", "memory.max");
	is_str(slurp(dir, "memory.swap.max", buf, sizeof(buf)), "0", "memory.swap.max");
	is_str(slurp(dir, "pids.max", buf, sizeof(buf)), "16", "pids.max");
	is_str(slurp(dir, "cpu.max", buf, sizeof(buf)), "50000 100000", "cpu.max");
	is_int(limits_cg_oom_kills(&cg), 2, "oom_kill from memory.events");
	is_int(limits_cg_memory(&cg), 12345, "memory.current");
	is_int(limits_cg_cpu_usec(&cg), 777, "usage_usec from cpu.stat");
	is_int(limits_cg_freeze(&cg, false, &e), 0, "thaw when cgroup.events says frozen 0");
	is_int(limits_cg_attach(&cg, 4242, &e), 0, "attach writes cgroup.procs");
	is_str(slurp(dir, "cgroup.procs", buf, sizeof(buf)), "4242", "the pid is in it");

	/* cgroup.events never says frozen 1 here: the freeze times out and is undone. */
	rc = limits_cg_freeze(&cg, true, &e);
	ok(rc == ERR_TIMEOUT && strstr(e.msg, "did not freeze") != NULL,
	    "a freeze that does "
	    "not take effect times out: %s",
	    e.msg);
	is_str(slurp(dir, "cgroup.freeze", buf, sizeof(buf)), "0", "and is undone");

	memset(&e, 0, sizeof(e));
	is_int(limits_cg_create(&h, "sbx", &zero, &cg, &e), 0, "reuse with no limits");
	is_str(slurp(dir, "memory.max", buf, sizeof(buf)), "max", "clears memory.max");
	is_str(slurp(dir, "memory.swap.max", buf, sizeof(buf)), "max", "clears swap.max");
	is_str(slurp(dir, "pids.max", buf, sizeof(buf)), "max", "clears pids.max");
	is_str(slurp(dir, "cpu.max", buf, sizeof(buf)), "max 100000", "clears cpu.max");

	rc = limits_cg_create(&h, "..", &l, &cg, &e);
	is_int(rc, ERR_INVAL, "\"..\" is no cgroup name: %s", e.msg);
	memset(&e, 0, sizeof(e));
	is_int(limits_cg_create(&h, "a/b", &l, &cg, &e), ERR_INVAL, "nor is a/b");
	memset(&e, 0, sizeof(e));
	is_int(limits_cg_create(&h, "", &l, &cg, &e), ERR_INVAL, "nor \"\"");
	rm_dir(dir, files);
	rmdir(h.memory);
}

static void
test_fake_v1(const char *tmp)
{
	static const char *const files[] = { "memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
		"pids.max", "cpu.cfs_period_us", "cpu.cfs_quota_us", "memory.oom_control",
		"memory.usage_in_bytes", "cpuacct.usage", "freezer.state", "cgroup.procs", NULL };
	struct lim_host h = { .mode = LIM_CG_V1 }, none = { .mode = LIM_CG_NONE };
	struct lim l = { 64 * MiB, 500, 16 };
	struct lim_cg cg;
	struct err e = { 0 };
	char dir[PATH_MAX], made[PATH_MAX], buf[256], desc[512];
	int i, rc;

	/* One directory stands for every hierarchy, as when controllers are co-mounted. */
	snprintf(h.memory, sizeof(h.memory), "%s/v1", tmp);
	memcpy(h.pids, h.memory, PATH_MAX);
	memcpy(h.cpu, h.memory, PATH_MAX);
	memcpy(h.freezer, h.memory, PATH_MAX);
	is_str(limits_describe(&h, desc, sizeof(desc)), "cgroup v1 (memory, pids, cpu, freezer)",
	    "describe v1");
	mkdir(h.memory, 0755);

	/* A fresh directory without cgroup files: the first write fails, and the directory
	 * made for it is removed. */
	rc = limits_cg_create(&h, "fresh", &l, &cg, &e);
	ok(rc == ERR_IO && strstr(e.msg, "memory.limit_in_bytes") != NULL &&
	        strstr(e.msg, "No such file") != NULL,
	    "a failed write names the file and errno: %s", e.msg);
	snprintf(made, sizeof(made), "%s/v1/fresh", tmp);
	ok(access(made, F_OK) == -1 && errno == ENOENT, "and what was made is removed");
	ok(cg.memory[0] == '\0' && cg.mode == LIM_CG_NONE, "cg is cleared on failure");

	snprintf(dir, sizeof(dir), "%s/v1/sbx", tmp);
	mkdir(dir, 0755);
	for (i = 0; files[i] != NULL; i++)
		put(dir, files[i], "");
	put(dir, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n");
	put(dir, "memory.usage_in_bytes", "999\n");
	put(dir, "cpuacct.usage", "5000000\n");
	memset(&e, 0, sizeof(e));
	is_int(limits_cg_create(&h, "sbx", &l, &cg, &e), 0, "v1 create: %s", e.msg);
	is_str(slurp(dir, "memory.limit_in_bytes", buf, sizeof(buf)), "67108864",
	    "memory.limit_in_bytes");
	is_str(slurp(dir, "memory.memsw.limit_in_bytes", buf, sizeof(buf)), "67108864",
	    "memory.memsw.limit_in_bytes the same");
	is_str(slurp(dir, "pids.max", buf, sizeof(buf)), "16", "pids.max");
	is_str(slurp(dir, "cpu.cfs_period_us", buf, sizeof(buf)), "100000", "cfs_period_us");
	is_str(slurp(dir, "cpu.cfs_quota_us", buf, sizeof(buf)), "50000", "cfs_quota_us");
	is_int(limits_cg_oom_kills(&cg), 4, "oom_kill from memory.oom_control");
	is_int(limits_cg_memory(&cg), 999, "memory.usage_in_bytes");
	is_int(limits_cg_cpu_usec(&cg), 5000, "cpuacct.usage in microseconds");
	is_int(limits_cg_freeze(&cg, true, &e), 0, "v1 freeze");
	is_str(slurp(dir, "freezer.state", buf, sizeof(buf)), "FROZEN", "freezer.state FROZEN");
	is_int(limits_cg_freeze(&cg, false, &e), 0, "v1 thaw");
	is_str(slurp(dir, "freezer.state", buf, sizeof(buf)), "THAWED", "freezer.state THAWED");
	rm_dir(dir, files);
	limits_cg_destroy(&cg, 100);
	rmdir(h.memory);

	memset(&e, 0, sizeof(e));
	memset(&cg, 0, sizeof(cg));
	is_int(limits_cg_freeze(&cg, true, &e), ERR_UNSUPPORTED, "no freezer: %s", e.msg);
	memset(&e, 0, sizeof(e));
	snprintf(none.why, sizeof(none.why), "nothing here");
	is_int(limits_cg_create(&none, "x", &l, &cg, &e), ERR_UNSUPPORTED, "mode none: %s", e.msg);
	is_str(limits_describe(&none, desc, sizeof(desc)), "none: nothing here", "describe none");
	is_int(limits_cg_oom_kills(&cg), -1, "no memory cgroup: oom kills unknown");
	is_int(limits_cg_memory(&cg), -1, "nor memory");
	is_int(limits_cg_cpu_usec(&cg), -1, "nor cpu");
}

/* ---- the probe and a real cgroup ------------------------------------------------------- */

static void
cleanup_cg(void)
{
	if (!g_cg_live)
		return;
	g_cg_live = false;
	limits_cg_kill(&g_cg, 2000);
	limits_cg_destroy(&g_cg, 2000);
}

static int g_res[2]; /* children report numbers here */

/* Forks until fork fails; reports how many processes the cgroup held and the errno. */
static int
child_forks(void *arg)
{
	int n = 1, err = 0;
	pid_t p;

	while (n < 200) {
		if ((p = fork()) == 0) {
			pause();
			_exit(0);
		}
		if (p == -1) {
			err = errno;
			break;
		}
		n++;
	}
	write_int(g_res[1], n);
	write_int(g_res[1], err);
	pause();
	return 0;
}

static int
child_oom(void *arg)
{
	size_t len = 256 * MiB, i;
	volatile char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	for (i = 0; i < len; i += 4096)
		p[i] = 1;
	return 0;
}

static int
child_spin(void *arg)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1000);
	return 0;
}

static int
child_count(void *arg)
{
	volatile long *counter = arg;
	volatile char *p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	size_t i;

	/* Touch a few MiB inside the cgroup so it has memory charged to it. */
	for (i = 0; p != MAP_FAILED && i < 4 * MiB; i += 4096)
		p[i] = 1;
	for (;;) {
		(*counter)++;
		sleep_ms(1);
	}
	return 0;
}

static bool
procs_empty(const struct lim_cg *cg)
{
	char buf[64];

	return slurp(cg->memory, "cgroup.procs", buf, sizeof(buf))[0] == '\0' &&
	    (cg->pids[0] == '\0' || slurp(cg->pids, "cgroup.procs", buf, sizeof(buf))[0] == '\0');
}

static void
test_cg_files(const struct lim_cg *cg)
{
	char buf[256];

	if (cg->mode == LIM_CG_V2) {
		is_str(slurp(cg->memory, "memory.max", buf, sizeof(buf)), "67108864", "memory.max");
		is_str(slurp(cg->pids, "pids.max", buf, sizeof(buf)), "16", "pids.max");
		if (cg->cpu[0] != '\0')
			is_str(slurp(cg->cpu, "cpu.max", buf, sizeof(buf)), "50000 100000",
			    "cpu.max");
		return;
	}
	is_str(slurp(cg->memory, "memory.limit_in_bytes", buf, sizeof(buf)), "67108864",
	    "memory.limit_in_bytes");
	if (slurp(cg->memory, "memory.memsw.limit_in_bytes", buf, sizeof(buf))[0] != '\0')
		is_str(buf, "67108864", "memory.memsw.limit_in_bytes");
	is_str(slurp(cg->pids, "pids.max", buf, sizeof(buf)), "16", "pids.max");
	if (cg->cpu[0] != '\0') {
		is_str(slurp(cg->cpu, "cpu.cfs_period_us", buf, sizeof(buf)), "100000",
		    "cpu.cfs_period_us");
		is_str(slurp(cg->cpu, "cpu.cfs_quota_us", buf, sizeof(buf)), "50000",
		    "cpu.cfs_quota_us");
	}
}

static void
test_cg_run(struct lim_cg *cg)
{
	struct err e = { 0 };
	struct rusage ru;
	volatile long *counter;
	int go, st, n, err, i;
	int64_t oom0, cpu_ms, c1, c2;
	pid_t pid;

	/* pids: a fork loop stops at pids.max; memory is charged; cgroup kill ends it all. */
	if (pipe(g_res) == -1)
		return;
	pid = spawn(child_forks, NULL, &go);
	is_int(limits_cg_attach(cg, pid, &e), 0, "attach a child: %s", e.msg);
	release(go);
	n = read_int(g_res[0]);
	err = read_int(g_res[0]);
	ok(n >= 2 && n <= 16, "forking stops within pids.max 16 (%d processes)", n);
	is_int(err, EAGAIN, "with EAGAIN");
	ok(limits_cg_memory(cg) > 0, "memory is charged to the cgroup (%lld KiB)",
	    (long long)limits_cg_memory(cg) / 1024);
	limits_cg_kill(cg, 2000);
	ok(killed(wait_ms(pid, 5000, NULL)), "limits_cg_kill kills the child");
	ok(procs_empty(cg), "and all %d processes: cgroup.procs is empty", n);
	close(g_res[0]);
	close(g_res[1]);

	/* memory: touching 256 MiB under a 64 MiB limit gets the OOM killer. */
	oom0 = limits_cg_oom_kills(cg);
	pid = spawn(child_oom, NULL, &go);
	limits_cg_attach(cg, pid, &e);
	release(go);
	st = wait_ms(pid, 20000, NULL);
	ok(killed(st), "256 MiB under a 64Mi limit is OOM-killed (status %#x)", st);
	ok(oom0 >= 0 && limits_cg_oom_kills(cg) >= oom0 + 1, "the OOM kill is counted (%lld)",
	    (long long)limits_cg_oom_kills(cg));

	/* cpu: a second of spinning under 500m uses about half a second. */
	pid = spawn(child_spin, NULL, &go);
	limits_cg_attach(cg, pid, &e);
	release(go);
	st = wait_ms(pid, 10000, &ru);
	cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	if (cg->cpu[0] != '\0')
		ok(st == 0 && cpu_ms <= 750, "500m holds a spinning child to %lld ms of CPU in 1 s",
		    (long long)cpu_ms);
	else
		skip("no cpu controller");
	if (limits_cg_cpu_usec(cg) >= 0)
		ok(limits_cg_cpu_usec(cg) >= 200000, "cpu usage is counted (%lld us)",
		    (long long)limits_cg_cpu_usec(cg));
	else
		ok(cg->mode == LIM_CG_V1,
		    "cpu usage unknown: v1 without cpuacct in the cpu "
		    "hierarchy");

	/* freeze: a counting child stops while frozen and goes on when thawed. */
	if (cg->freezer[0] == '\0') {
		skip("no freezer");
		return;
	}
	counter = mmap(NULL, sizeof(*counter), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (counter == MAP_FAILED)
		return;
	pid = spawn(child_count, (void *)counter, &go);
	limits_cg_attach(cg, pid, &e);
	release(go);
	for (i = 0; i < 200 && *counter == 0; i++)
		sleep_ms(10);
	is_int(limits_cg_freeze(cg, true, &e), 0, "freeze: %s", e.msg);
	c1 = *counter;
	sleep_ms(200);
	c2 = *counter;
	ok(c1 > 0 && c1 == c2, "a frozen child does not progress (%lld, %lld)", (long long)c1,
	    (long long)c2);
	is_int(limits_cg_freeze(cg, false, &e), 0, "thaw: %s", e.msg);
	sleep_ms(200);
	ok(*counter > c2, "a thawed child goes on (%ld)", *counter);
	is_int(limits_cg_freeze(cg, true, &e), 0, "freeze again");
	limits_cg_kill(cg, 2000);
	ok(killed(wait_ms(pid, 5000, NULL)), "limits_cg_kill kills a frozen child");
	munmap((void *)counter, sizeof(*counter));
}

static void
test_cgroup(void)
{
	struct lim_host h, h2;
	struct lim l = { 64 * MiB, 500, 16 };
	struct err e = { 0 };
	char desc[600], name[64], *dirs[4];
	int i, gone;

	limits_probe(&h);
	note("probe: %s", limits_describe(&h, desc, sizeof(desc)));
	if (h.why[0] != '\0')
		note("why: %s", h.why);
	limits_probe(&h2);
	ok(h.mode == h2.mode && strcmp(h.memory, h2.memory) == 0 && strcmp(h.pids, h2.pids) == 0 &&
	        strcmp(h.cpu, h2.cpu) == 0 && strcmp(h.freezer, h2.freezer) == 0 &&
	        strcmp(h.why, h2.why) == 0,
	    "probing twice finds the same");
	if (h.mode == LIM_CG_NONE) {
		ok(h.why[0] != '\0' && strncmp(desc, "none: ", 6) == 0, "mode none says why");
		if (geteuid() != 0 && access("/sys/fs/cgroup/memory/tasks", F_OK) == 0)
			ok(strstr(h.why, "cgroup v1 controllers need root") != NULL,
			    "as uid %d, v1 needs root", (int)geteuid());
		skip("no writable cgroup for the cgroup tests");
		return;
	}
	ok(h.memory[0] != '\0' && h.pids[0] != '\0', "memory and pids have a place");
	ok(strncmp(desc, h.mode == LIM_CG_V2 ? "cgroup v2 at " : "cgroup v1 (", 11) == 0,
	    "described as %s", h.mode == LIM_CG_V2 ? "v2" : "v1");
	if (geteuid() == 0 && access("/sys/fs/cgroup/memory/tasks", F_OK) == 0 &&
	    access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0)
		is_int(h.mode, LIM_CG_V1, "root on a hybrid machine uses v1");

	snprintf(name, sizeof(name), "sandbox-mcp-test-%d", (int)getpid());
	if (!ok(limits_cg_create(&h, name, &l, &g_cg, &e) == 0, "create %s: %s", name, e.msg))
		return;
	g_cg_live = true;
	test_cg_files(&g_cg);
	memset(&e, 0, sizeof(e));
	is_int(limits_cg_create(&h, name, &l, &g_cg, &e), 0, "creating it again reuses it");
	test_cg_run(&g_cg);

	cleanup_cg();
	dirs[0] = g_cg.memory;
	dirs[1] = g_cg.pids;
	dirs[2] = g_cg.cpu;
	dirs[3] = g_cg.freezer;
	for (gone = 1, i = 0; i < 4; i++)
		if (dirs[i][0] != '\0' && access(dirs[i], F_OK) == 0)
			gone = 0;
	ok(gone, "limits_cg_destroy removes every directory");
}

/* ---- the v2 probe over a fake hierarchy ------------------------------------------------- */

/*
 * This machine kind has no cgroup v2 with controllers, so the v2 half of limits_probe runs
 * against regular files: a child in its own mount namespace binds made-up copies over
 * /proc/self/cgroup and /proc/self/mountinfo (root only). Regular files cannot say EBUSY,
 * so a directory in place of cgroup.subtree_control stands for a refused write.
 */
struct v2case {
	const char *self; /* the 0:: line's path */
	const char *controllers;
	const char *subtree; /* NULL: cgroup.subtree_control is a directory */
};

static void
fake_probe(const char *tmp, const struct v2case *c, struct lim_host *h)
{
	char fs[PATH_MAX], dir[PATH_MAX], leaf[PATH_MAX], f[PATH_MAX], buf[PATH_MAX + 128];
	int p[2], st;
	pid_t pid;

	memset(h, 0, sizeof(*h));
	snprintf(fs, sizeof(fs), "%s/fs", tmp);
	snprintf(dir, sizeof(dir), "%s/fs/a", tmp);
	snprintf(leaf, sizeof(leaf), "%s/fs/a/sandbox-mcp-server", tmp);
	mkdir(fs, 0755);
	mkdir(dir, 0755);
	mkdir(leaf, 0755);
	put(dir, "cgroup.controllers", c->controllers);
	put(dir, "cgroup.procs", "");
	put(leaf, "cgroup.procs", "");
	put(leaf, "cgroup.freeze", "");
	snprintf(f, sizeof(f), "%s/fs/a/cgroup.subtree_control", tmp);
	unlink(f);
	rmdir(f);
	if (c->subtree != NULL)
		put(dir, "cgroup.subtree_control", c->subtree);
	else
		mkdir(f, 0755);
	snprintf(buf, sizeof(buf), "0::%s\n", c->self);
	put(tmp, "cgroup", buf);
	snprintf(buf, sizeof(buf), "40 30 0:37 / %s rw - cgroup2 cgroup2 rw\n", fs);
	put(tmp, "mountinfo", buf);
	if (pipe(p) == -1)
		return;
	if ((pid = fork()) == 0) {
		snprintf(f, sizeof(f), "%s/cgroup", tmp);
		snprintf(buf, sizeof(buf), "%s/mountinfo", tmp);
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount(f, "/proc/self/cgroup", NULL, MS_BIND, NULL) != 0 ||
		    mount(buf, "/proc/self/mountinfo", NULL, MS_BIND, NULL) != 0)
			_exit(1);
		limits_probe(h);
		if (write(p[1], h, sizeof(*h)) != (ssize_t)sizeof(*h))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], h, sizeof(*h)) != (ssize_t)sizeof(*h))
		h->mode = -1;
	close(p[0]);
	waitpid(pid, &st, 0);
}

/* Our cgroup /a/b also holds another process: sandboxes go beside it, under /a, and we
 * are not moved. */
static void
test_probe_v2_shared(const char *tmp)
{
	char fs[PATH_MAX], a[PATH_MAX], b[PATH_MAX], f[PATH_MAX], buf[PATH_MAX + 128];
	struct lim_host h;
	int p[2], st;
	pid_t pid;

	if (geteuid() != 0) {
		skip("the fake v2 probe needs root for its mount namespace");
		return;
	}
	snprintf(fs, sizeof(fs), "%s/fs2", tmp);
	snprintf(a, sizeof(a), "%s/fs2/a", tmp);
	snprintf(b, sizeof(b), "%s/fs2/a/b", tmp);
	mkdir(fs, 0755);
	mkdir(a, 0755);
	mkdir(b, 0755);
	put(a, "cgroup.controllers", "cpu memory pids\n");
	put(a, "cgroup.subtree_control", "memory pids\n");
	put(a, "cgroup.procs", "");
	put(b, "cgroup.controllers", "memory pids\n");
	put(b, "cgroup.subtree_control", "");
	put(b, "cgroup.procs", "1\n"); /* not alone */
	put(b, "cgroup.freeze", "0\n");
	put(tmp, "cgroup2", "0::/a/b\n");
	snprintf(buf, sizeof(buf), "40 30 0:37 / %s rw - cgroup2 cgroup2 rw\n", fs);
	put(tmp, "mountinfo2", buf);
	memset(&h, 0, sizeof(h));
	if (pipe(p) == -1)
		return;
	if ((pid = fork()) == 0) {
		snprintf(f, sizeof(f), "%s/cgroup2", tmp);
		snprintf(buf, sizeof(buf), "%s/mountinfo2", tmp);
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount(f, "/proc/self/cgroup", NULL, MS_BIND, NULL) != 0 ||
		    mount(buf, "/proc/self/mountinfo", NULL, MS_BIND, NULL) != 0)
			_exit(1);
		limits_probe(&h);
		if (write(p[1], &h, sizeof(h)) != (ssize_t)sizeof(h))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &h, sizeof(h)) != (ssize_t)sizeof(h))
		h.mode = -1;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (h.mode == (enum lim_cg_mode) - 1) {
		skip("no mount namespace for the fake v2 probe");
	} else {
		ok(h.mode == LIM_CG_V2 && strcmp(h.memory, a) == 0 && strcmp(h.pids, a) == 0 &&
		        strcmp(h.freezer, a) == 0,
		    "v2, our cgroup shared: sandboxes go under its parent");
		is_str(slurp(b, "cgroup.procs", buf, sizeof(buf)), "1",
		    "v2, our cgroup shared: nothing was moved");
		ok(h.cpu[0] == '\0' || strcmp(h.cpu, a) == 0,
		    "v2 parent: cpu where it is handed down");
	}
	rm_dir(b,
	    (const char *const[]){ "cgroup.controllers", "cgroup.subtree_control", "cgroup.procs",
	        "cgroup.freeze", NULL });
	rm_dir(a,
	    (const char *const[]){ "cgroup.controllers", "cgroup.subtree_control", "cgroup.procs",
	        NULL });
	rmdir(fs);
	rm_dir(tmp, (const char *const[]){ "cgroup2", "mountinfo2", NULL });
}

static void
test_probe_v2(const char *tmp)
{
	static const struct v2case fresh = { "/a", "cpuset cpu io memory pids\n", "" },
	                           refused = { "/a", "cpu memory pids\n", NULL },
	                           bare = { "/a", "cpu io\n", "" },
	                           again = { "/a/sandbox-mcp-server", "cpu memory pids\n",
		                           "cpu memory pids\n" };
	char dir[PATH_MAX], leaf[PATH_MAX], buf[PATH_MAX], desc[PATH_MAX + 64];
	char want[PATH_MAX + 64];
	struct lim_host h;

	if (geteuid() != 0) {
		skip("the fake v2 probe needs root for its mount namespace");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/fs/a", tmp);
	snprintf(leaf, sizeof(leaf), "%s/fs/a/sandbox-mcp-server", tmp);
	fake_probe(tmp, &fresh, &h);
	if (h.mode == (enum lim_cg_mode) - 1) {
		skip("no mount namespace for the fake v2 probe");
		return;
	}
	ok(h.mode == LIM_CG_V2 && strcmp(h.memory, dir) == 0 && strcmp(h.pids, dir) == 0 &&
	        strcmp(h.freezer, dir) == 0,
	    "v2: sandboxes go under the process's cgroup");
	ok(atoi(slurp(leaf, "cgroup.procs", buf, sizeof(buf))) > 0,
	    "v2: the process moved into the sandbox-mcp-server leaf");
	is_str(slurp(dir, "cgroup.subtree_control", buf, sizeof(buf)), "+cpu",
	    "v2: +memory +pids, then +cpu, written to cgroup.subtree_control");
	/* A regular file reads back "+cpu", not "cpu": to the probe, cpu did not take. */
	snprintf(want, sizeof(want), "cgroup v2 at %s (memory, pids, freezer)", dir);
	is_str(limits_describe(&h, desc, sizeof(desc)), want, "described with its directory");
	ok(strstr(h.why, "no cpu controller") != NULL, "why names the missing cpu: %s", h.why);

	fake_probe(tmp, &again, &h);
	ok(h.mode == LIM_CG_V2 && strcmp(h.memory, dir) == 0 && strcmp(h.cpu, dir) == 0 &&
	        h.why[0] == '\0',
	    "v2 from inside the leaf: the parent, with cpu");

	put(dir, "cgroup.procs", "");
	put(leaf, "cgroup.procs", "");
	fake_probe(tmp, &refused, &h);
	ok(h.mode == LIM_CG_NONE && strstr(h.why, "enabling memory and pids in") != NULL,
	    "v2 refused: mode none, %s", h.why);
	ok(atoi(slurp(dir, "cgroup.procs", buf, sizeof(buf))) > 0,
	    "and the process moved back out of the leaf");

	fake_probe(tmp, &bare, &h);
	ok(h.mode == LIM_CG_NONE && strstr(h.why, "has no memory and pids controllers") != NULL,
	    "v2 without controllers: %s", h.why);

	rm_dir(leaf, (const char *const[]){ "cgroup.procs", "cgroup.freeze", NULL });
	rm_dir(dir,
	    (const char *const[]){ "cgroup.controllers", "cgroup.procs", "cgroup.subtree_control",
	        NULL });
	snprintf(dir, sizeof(dir), "%s/fs", tmp);
	rmdir(dir);
	rm_dir(tmp, (const char *const[]){ "cgroup", "mountinfo", NULL });
	mkdir(tmp, 0700);
}

/* ---- rlimits ------------------------------------------------------------------------------ */

static void
test_rlimits(void)
{
	struct lim l = { 0, 0, 8 }, none = { 0, 0, 0 };
	struct rlimit rl, after;
	pid_t pid, kids[64], p;
	int res[2], n = 0, err = 0, v[8], i;

	if (pipe(res) == -1)
		return;
	if ((pid = fork()) == 0) {
		/* RLIMIT_NPROC does not hold for uid 0: become an ordinary user first. */
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setresgid(1000, 1000, 1000) != 0 ||
		        setresuid(1000, 1000, 1000) != 0))
			_exit(97);
		rl.rlim_cur = rl.rlim_max = 512;
		setrlimit(RLIMIT_NOFILE, &rl);
		write_int(res[1], limits_rlimits_apply(&l));
		getrlimit(RLIMIT_NPROC, &rl);
		write_int(res[1], (int)rl.rlim_cur);
		write_int(res[1], (int)rl.rlim_max);
		getrlimit(RLIMIT_NOFILE, &rl);
		write_int(res[1], (int)rl.rlim_cur);
		write_int(res[1], (int)rl.rlim_max);
		getrlimit(RLIMIT_CORE, &rl);
		write_int(res[1], (int)rl.rlim_cur + (int)rl.rlim_max);
		/* A bug here would be a fork bomb: 64 at most. */
		while (n < 64) {
			if ((p = fork()) == 0) {
				pause();
				_exit(0);
			}
			if (p == -1) {
				err = errno;
				break;
			}
			kids[n++] = p;
		}
		for (i = 0; i < n; i++)
			kill(kids[i], SIGKILL);
		while (wait(NULL) > 0)
			;
		write_int(res[1], n);
		write_int(res[1], err);
		_exit(0);
	}
	for (i = 0; i < 8; i++)
		v[i] = read_int(res[0]);
	is_int(v[0], 0, "limits_rlimits_apply as uid %d", geteuid() == 0 ? 1000 : (int)geteuid());
	ok(v[1] == 8 && v[2] == 8, "RLIMIT_NPROC 8/8 (%d/%d)", v[1], v[2]);
	ok(v[3] == 512 && v[4] == 512, "RLIMIT_NOFILE stays under a lower hard limit (%d/%d)", v[3],
	    v[4]);
	is_int(v[5], 0, "RLIMIT_CORE 0");
	ok(v[6] >= 0 && v[6] < 8, "forking stops before 8 processes of the user (%d forks)", v[6]);
	is_int(v[7], EAGAIN, "with EAGAIN");
	waitpid(pid, NULL, 0);
	close(res[0]);
	close(res[1]);

	if ((pid = fork()) == 0) {
		getrlimit(RLIMIT_NPROC, &rl);
		if (limits_rlimits_apply(&none) != 0)
			_exit(1);
		getrlimit(RLIMIT_NPROC, &after);
		if (after.rlim_cur != rl.rlim_cur || after.rlim_max != rl.rlim_max)
			_exit(2);
		getrlimit(RLIMIT_NOFILE, &rl);
		_exit(rl.rlim_cur == rl.rlim_max && rl.rlim_max <= LIMITS_NOFILE ? 0 : 3);
	}
	waitpid(pid, &i, 0);
	ok(WIFEXITED(i) && WEXITSTATUS(i) == 0,
	    "no pids limit leaves RLIMIT_NPROC alone; "
	    "NOFILE at most %d (status %#x)",
	    LIMITS_NOFILE, i);
}

/* ---- the process tree ---------------------------------------------------------------------- */

static int g_tree[2];

static void
tree_node_report(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	write_int(g_tree[1], (int)getpid());
}

static void *
tree_thread(void *arg)
{
	/* D: a child of a thread other than the main one. */
	if (fork() == 0) {
		tree_node_report();
		pause();
		_exit(0);
	}
	pause();
	return NULL;
}

/* A (root) -> B -> E, A -> C, A's thread -> D. */
static int
tree_root(void *arg)
{
	pthread_t t;

	write_int(g_tree[1], (int)getpid());
	if (fork() == 0) {
		tree_node_report();
		if (fork() == 0) {
			tree_node_report();
			pause();
			_exit(0);
		}
		pause();
		_exit(0);
	}
	if (fork() == 0) {
		tree_node_report();
		pause();
		_exit(0);
	}
	pthread_create(&t, NULL, tree_thread, NULL);
	pause();
	return 0;
}

struct seen {
	pid_t pid[16];
	int n, stop_after;
};

static int
collect(pid_t pid, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16)
		s->pid[s->n++] = pid;
	return s->stop_after > 0 && s->n >= s->stop_after;
}

static void
test_tree(void)
{
	struct seen s = { .n = 0 };
	pid_t want[5], root, pid;
	int go, i, j, found, once, st;
	volatile char *p;
	int64_t mem;

	if (pipe(g_tree) == -1)
		return;
	root = spawn(tree_root, NULL, &go);
	release(go);
	for (i = 0; i < 5; i++)
		want[i] = read_int(g_tree[0]);
	ok(want[0] == root && want[4] > 0, "a tree of five processes over three levels");
	is_int(limits_tree_walk(root, 100, collect, &s), 5, "the walk visits five");
	for (found = 0, once = 1, i = 0; i < 5; i++) {
		for (st = 0, j = 0; j < s.n; j++)
			st += s.pid[j] == want[i];
		found += st >= 1;
		once &= st <= 1;
	}
	ok(found == 5 && once, "each one once, the thread's child included");
	is_int(s.pid[0], root, "the root first");
	s.n = 0;
	s.stop_after = 2;
	is_int(limits_tree_walk(root, 100, collect, &s), 2, "fn stops the walk");
	s.n = 0;
	s.stop_after = 0;
	is_int(limits_tree_walk(root, 3, collect, &s), 3, "max bounds it");
	is_int(limits_tree_walk(root, 0, collect, &s), 0, "max 0 visits none");
	for (i = 4; i >= 0; i--)
		if (want[i] > 0)
			kill(want[i], SIGKILL);
	wait_ms(root, 5000, NULL);
	close(g_tree[0]);
	close(g_tree[1]);

	/* A child that touched 50 MiB of anonymous memory. */
	if (pipe(g_tree) == -1)
		return;
	if ((pid = fork()) == 0) {
		p = mmap(NULL, 50 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0);
		if (p == MAP_FAILED)
			_exit(1);
		memset((void *)p, 1, 50 * MiB);
		write_int(g_tree[1], 1);
		pause();
		_exit(0);
	}
	read_int(g_tree[0]);
	mem = limits_proc_memory(pid);
	ok(mem >= 50 * MiB, "limits_proc_memory sees the 50 MiB (%lld MiB)",
	    (long long)(mem / MiB));
	ok(limits_proc_memory(getpid()) > 0, "and our own");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	is_int(limits_proc_memory(pid), -1, "a reaped process: -1");
	close(g_tree[0]);
	close(g_tree[1]);
}

int
main(void)
{
	char tmp[] = "/tmp/limits-test-XXXXXX";

	alarm(300);
	atexit(cleanup_cg);
	test_parse_memory();
	test_parse_cpu();
	test_format();
	test_mem_total();
	if (mkdtemp(tmp) != NULL) {
		test_fake_v2(tmp);
		test_fake_v1(tmp);
		test_probe_v2(tmp);
		test_probe_v2_shared(tmp);
		rmdir(tmp);
	}
	test_cgroup();
	test_rlimits();
	test_tree();
	return done_testing();
}
