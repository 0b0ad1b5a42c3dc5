/*
 * nosys.c -- runs a command under a seccomp filter that makes it look like another
 * kernel or another container, for the local backend's tests.
 *
 * Usage: nosys [-n NR]... [-u] -- COMMAND [ARG...]
 *   -n NR   system call NR fails with ENOSYS, as on a kernel that lacks it (442 is
 *           mount_setattr: kernels before 5.12 make the sandbox remount every submount)
 *   -u      clone and unshare with CLONE_NEWUSER fail with EPERM, as under Docker's
 *           default seccomp profile (clone3 gets ENOSYS so libc falls back to clone)
 * The filter is inherited by everything COMMAND starts, supervisors included. x86_64 and
 * aarch64 only (the tests that use it skip elsewhere).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

#define MAX_INSNS 256
#define NEWUSER   0x10000000u

static struct sock_filter prog[MAX_INSNS];
static int n;

static void
emit(struct sock_filter f)
{
	if (n == MAX_INSNS) {
		fprintf(stderr, "nosys: too many rules\n");
		exit(2);
	}
	prog[n++] = f;
}

/* nr == k: return ret (one JEQ, one RET). */
static void
nr_rule(unsigned nr, unsigned ret)
{
	emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret));
}

/* nr == k && (args[0] & NEWUSER): EPERM; reloads nr afterwards. */
static void
newuser_rule(unsigned nr)
{
	emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4));
	emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, args[0])));
	emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NEWUSER, 0, 1));
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
	emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr)));
}

int
main(int argc, char **argv)
{
	struct sock_fprog fp;
	int i;
	int userns = 0;

#ifndef ARCH
	fprintf(stderr, "nosys: unsupported architecture\n");
	return 2;
#else
	emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch)));
	emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0));
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr)));
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			nr_rule((unsigned)atoi(argv[++i]), SECCOMP_RET_ERRNO | ENOSYS);
		else if (strcmp(argv[i], "-u") == 0)
			userns = 1;
		else {
			fprintf(stderr, "usage: nosys [-n NR]... [-u] -- COMMAND [ARG...]\n");
			return 2;
		}
	}
	if (userns) {
		nr_rule(435, SECCOMP_RET_ERRNO | ENOSYS); /* clone3 */
		newuser_rule(SYS_clone);
		newuser_rule(SYS_unshare);
	}
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: nosys [-n NR]... [-u] -- COMMAND [ARG...]\n");
		return 2;
	}
	fp.len = (unsigned short)n;
	fp.filter = prog;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0) {
		perror("nosys: seccomp");
		return 2;
	}
	execvp(argv[i + 1], argv + i + 1);
	perror("nosys: exec");
	return 127;
#endif
}
