/*
 * seccomp.c -- the system-call filter every sandboxed command runs under.
 *
 * A classic BPF program assembled here by hand (no libseccomp: the binary is static and
 * the policy is a short deny list). Its shape, in order:
 *
 *   1. a foreign architecture (an i386 int $0x80 on x86_64) or an x32 system call kills
 *      the process: our numbers are only right for the native table;
 *   2. clone3 gets ENOSYS, so libc falls back to clone, whose flags we can see (clone3
 *      passes them in memory the filter cannot read);
 *   3. a JEQ chain of denied numbers, each jumping to one RET EPERM;
 *   4. unshare, clone, ioctl and socket are judged by one argument;
 *   5. everything else is allowed.
 *
 * The program is built into a stack array on every call so local_seccomp_apply allocates
 * nothing and stays async-signal-safe (it runs in a forked child right before execve).
 * Arguments are compared on their low 32 bits only: the kernel reads clone and unshare
 * flags, ioctl commands and socket families as 32-bit values, so high bits set by an
 * attacker change nothing the kernel does and must change nothing here either.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * From the kernel uapi (<linux/filter.h>, <linux/seccomp.h>, <linux/audit.h>), which
 * musl-gcc's include path does not have. These values are ABI and never change.
 */
struct sock_filter {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};

struct sock_fprog {
	unsigned short len;
	struct sock_filter *filter;
};

struct seccomp_data {
	int nr;
	uint32_t arch;
	uint64_t instruction_pointer;
	uint64_t args[6];
};

#define BPF_LD_W_ABS 0x20 /* BPF_LD | BPF_W | BPF_ABS */
#define BPF_JEQ_K    0x15 /* BPF_JMP | BPF_JEQ | BPF_K */
#define BPF_JGE_K    0x35 /* BPF_JMP | BPF_JGE | BPF_K */
#define BPF_JSET_K   0x45 /* BPF_JMP | BPF_JSET | BPF_K */
#define BPF_RET_K    0x06 /* BPF_RET | BPF_K */

#define SECCOMP_SET_MODE_FILTER_ 1
#define SECCOMP_MODE_FILTER_     2
#define RET_KILL_PROCESS         0x80000000U
#define RET_ERRNO(e)             (0x00050000U | ((e)&0xffff))
#define RET_ALLOW                0x7fff0000U
#define RET_USER_NOTIF           0x7fc00000U
#define FILTER_FLAG_NEW_LISTENER (1U << 3)

#if defined(__x86_64__)
#define FILTER_ARCH     0xC000003EU /* AUDIT_ARCH_X86_64: EM_X86_64 | 64BIT | LE */
#define X32_SYSCALL_BIT 0x40000000U
#elif defined(__aarch64__)
#define FILTER_ARCH 0xC00000B7U /* AUDIT_ARCH_AARCH64: EM_AARCH64 | 64BIT | LE */
#endif

/* Unified numbers (424 and up are the same on every architecture) that older libc
 * headers lack. */
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup    425
#define SYS_io_uring_enter    426
#define SYS_io_uring_register 427
#endif
#ifndef SYS_open_tree
#define SYS_open_tree  428
#define SYS_move_mount 429
#define SYS_fsopen     430
#define SYS_fsconfig   431
#define SYS_fsmount    432
#define SYS_fspick     433
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

#define CLONE_NEW_ALL  0x7E020000U /* NEWNS CGROUP UTS IPC USER PID NET */
#define CLONE_NEWTIME_ 0x00000080U /* unshare only: in clone this is CSIGNAL */
#define TIOCSTI_       0x5412U
#define TIOCLINUX_     0x541CU
#define AF_PACKET_     17U
#define AF_VSOCK_      40U

/* The low word of args[i]: seccomp_data holds the arguments as native 64-bit words, so
 * the low half comes first on little-endian machines (both architectures above) and
 * second on big-endian ones. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#endif

/* Jump targets not yet known while emitting; resolved once the RETs are placed. Real
 * offsets stay below PROG_MAX, so these values cannot be mistaken for one. */
#define TO_ALLOW  0xfc
#define TO_EPERM  0xfd
#define TO_ENOSYS 0xfe
#define TO_KILL   0xff
#define PROG_MAX  128

struct prog {
	struct sock_filter f[PROG_MAX];
	int n;
};

#ifdef FILTER_ARCH
static const int deny_eperm[] = { SYS_mount, SYS_umount2, SYS_pivot_root, SYS_move_mount,
	SYS_open_tree, SYS_fsopen, SYS_fsmount, SYS_fsconfig, SYS_fspick, SYS_mount_setattr,
	SYS_setns, SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_pidfd_getfd,
	SYS_kcmp, SYS_kexec_load, SYS_kexec_file_load, SYS_bpf, SYS_keyctl, SYS_add_key,
	SYS_request_key, SYS_userfaultfd, SYS_perf_event_open, SYS_io_uring_setup,
	SYS_io_uring_enter, SYS_io_uring_register, SYS_init_module, SYS_finit_module,
	SYS_delete_module, SYS_open_by_handle_at, SYS_name_to_handle_at, SYS_reboot, SYS_swapon,
	SYS_swapoff, SYS_syslog, SYS_acct, SYS_settimeofday, SYS_clock_settime, SYS_quotactl,
	SYS_lookup_dcookie, SYS_chroot,
#ifdef SYS_iopl
	SYS_iopl, SYS_ioperm
#endif
};

static void
emit(struct prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->n < PROG_MAX) {
		p->f[p->n].code = code;
		p->f[p->n].jt = jt;
		p->f[p->n].jf = jf;
		p->f[p->n].k = k;
	}
	p->n++;
}

static uint8_t
resolve(uint8_t j, int at, const int *ret)
{
	return j >= TO_ALLOW ? (uint8_t)(ret[j - TO_ALLOW] - at - 1) : j;
}

/* Fills p; returns its length, or -E2BIG when it outgrew PROG_MAX (raise it). */
static int
build(struct prog *p)
{
	/* In TO_* order: jump target j lands on ret[j - TO_ALLOW]. */
	static const uint32_t rets[4] = { RET_ALLOW, RET_ERRNO(EPERM), RET_ERRNO(ENOSYS),
		RET_KILL_PROCESS };
	int ret[4], i;
	size_t d;

	p->n = 0;
	emit(p, BPF_LD_W_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(p, BPF_JEQ_K, FILTER_ARCH, 0, TO_KILL);
	emit(p, BPF_LD_W_ABS, offsetof(struct seccomp_data, nr), 0, 0);
#ifdef X32_SYSCALL_BIT
	emit(p, BPF_JGE_K, X32_SYSCALL_BIT, TO_KILL, 0);
#endif
	emit(p, BPF_JEQ_K, SYS_clone3, TO_ENOSYS, 0);
	for (d = 0; d < sizeof(deny_eperm) / sizeof(deny_eperm[0]); d++)
		emit(p, BPF_JEQ_K, (uint32_t)deny_eperm[d], TO_EPERM, 0);

	/* Each argument check is entered only on its own number (jf skips the block with
	 * the number still in A) and ends in EPERM or ALLOW, so A may be overwritten. */
	emit(p, BPF_JEQ_K, SYS_unshare, 0, 2);
	emit(p, BPF_LD_W_ABS, ARG_LO(0), 0, 0);
	emit(p, BPF_JSET_K, CLONE_NEW_ALL | CLONE_NEWTIME_, TO_EPERM, TO_ALLOW);
	/* clone's first argument is the flags on x86_64 and aarch64 (not on s390). */
	emit(p, BPF_JEQ_K, SYS_clone, 0, 2);
	emit(p, BPF_LD_W_ABS, ARG_LO(0), 0, 0);
	emit(p, BPF_JSET_K, CLONE_NEW_ALL, TO_EPERM, TO_ALLOW);
	emit(p, BPF_JEQ_K, SYS_ioctl, 0, 3);
	emit(p, BPF_LD_W_ABS, ARG_LO(1), 0, 0);
	emit(p, BPF_JEQ_K, TIOCSTI_, TO_EPERM, 0);
	emit(p, BPF_JEQ_K, TIOCLINUX_, TO_EPERM, TO_ALLOW);
	emit(p, BPF_JEQ_K, SYS_socket, 0, 3);
	emit(p, BPF_LD_W_ABS, ARG_LO(0), 0, 0);
	emit(p, BPF_JEQ_K, AF_VSOCK_, TO_EPERM, 0);
	emit(p, BPF_JEQ_K, AF_PACKET_, TO_EPERM, TO_ALLOW);

	for (i = 0; i < 4; i++) {
		ret[i] = p->n;
		emit(p, BPF_RET_K, rets[i], 0, 0);
	}
	if (p->n > PROG_MAX)
		return -E2BIG;
	for (i = 0; i < p->n; i++) {
		p->f[i].jt = resolve(p->f[i].jt, i, ret);
		p->f[i].jf = resolve(p->f[i].jf, i, ret);
	}
	return p->n;
}
#else
/* No syscall numbers for this architecture: commands fail to start (fail closed). */
static int
build(struct prog *p)
{
	return -ENOSYS;
}
#endif

int
local_seccomp_len(void)
{
	struct prog p;

	return build(&p);
}

int
local_seccomp_apply(void)
{
	struct prog p;
	struct sock_fprog fp;
	int n;

	if ((n = build(&p)) < 0)
		return -n;
	fp.len = (unsigned short)n;
	fp.filter = p.f;
	/* Without NO_NEW_PRIVS an unprivileged process may not install a filter, and a
	 * setuid binary could otherwise run privileged under a policy it did not expect. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, 0, &fp) == 0)
		return 0;
	if (errno != ENOSYS)
		return errno;
	/* Kernels before 3.17 have the filter mode only through prctl. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER_, &fp, 0, 0) == -1)
		return errno;
	return 0;
}

int
local_seccomp_notify_connect(void)
{
#ifdef FILTER_ARCH
	/* A foreign architecture is let through: the commands' own filter kills it. */
	struct sock_filter f[] = {
		{ BPF_LD_W_ABS, 0, 0, offsetof(struct seccomp_data, arch) },
		{ BPF_JEQ_K, 0, 3, FILTER_ARCH },
		{ BPF_LD_W_ABS, 0, 0, offsetof(struct seccomp_data, nr) },
		{ BPF_JEQ_K, 0, 1, SYS_connect },
		{ BPF_RET_K, 0, 0, RET_USER_NOTIF },
		{ BPF_RET_K, 0, 0, RET_ALLOW },
	};
	struct sock_fprog fp = { sizeof(f) / sizeof(f[0]), f };
	long fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -errno;
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, FILTER_FLAG_NEW_LISTENER, &fp);
	return fd >= 0 ? (int)fd : -errno;
#else
	return -ENOSYS;
#endif
}
