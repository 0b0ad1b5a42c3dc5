/*
 * landlock.c -- the second wall: Landlock confines writes and, from ABI 6, scopes
 * abstract unix sockets and signals to the sandbox.
 *
 * Only write-type file accesses are handled, so reading and executing stay governed by
 * the mount view alone (rootfs.c decides what is visible and read-only); Landlock adds
 * a check that does not depend on those mounts being right. Network ports are not
 * handled: the network namespace does that job.
 *
 * Everything here uses the stack only, because local_landlock_apply runs in a freshly
 * cloned process before exec. The caller sets NO_NEW_PRIVS first (or holds CAP_SYS_ADMIN
 * in its user namespace); without either, landlock_restrict_self fails with EPERM.
 *
 * With ABI 1 the kernel cannot be told about REFER, and it then always refuses to
 * rename or link a file into another directory, even inside the write set.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * From the kernel uapi <linux/landlock.h> (6.12+), which musl-gcc's include path does
 * not have and older distributions ship without the later fields. The ruleset
 * attribute grew: handled_access_fs (ABI 1), handled_access_net (ABI 4), scoped (ABI 6);
 * the kernel accepts any size down to the first field, so we pass the prefix we use.
 */
struct landlock_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct landlock_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define LANDLOCK_RULE_PATH_BENEATH      1

#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_REMOVE_DIR  (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR   (1ULL << 6)
#define LL_FS_MAKE_DIR    (1ULL << 7)
#define LL_FS_MAKE_REG    (1ULL << 8)
#define LL_FS_MAKE_SOCK   (1ULL << 9)
#define LL_FS_MAKE_FIFO   (1ULL << 10)
#define LL_FS_MAKE_BLOCK  (1ULL << 11)
#define LL_FS_MAKE_SYM    (1ULL << 12)
#define LL_FS_REFER       (1ULL << 13) /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15) /* ABI 5 */

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL               (1ULL << 1) /* ABI 6 */

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule       445
#define SYS_landlock_restrict_self  446
#endif

int
local_landlock_abi(void)
{
	long v;

	v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

/* Every write-type access this ABI knows; asking for an unknown bit is EINVAL. */
static uint64_t
ll_write_access(int abi)
{
	uint64_t a;

	a = LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR |
	    LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK |
	    LL_FS_MAKE_SYM;
	if (abi >= 2)
		a |= LL_FS_REFER;
	if (abi >= 3)
		a |= LL_FS_TRUNCATE;
	if (abi >= 5)
		a |= LL_FS_IOCTL_DEV;
	return a;
}

int
local_landlock_apply(const char *const *write, size_t n)
{
	struct landlock_ruleset_attr ra;
	struct landlock_path_beneath_attr pb;
	size_t i, size;
	int abi, rfd, fd, rc, e;

	if ((abi = local_landlock_abi()) == 0)
		return 0;
	memset(&ra, 0, sizeof(ra));
	ra.handled_access_fs = ll_write_access(abi);
	size = offsetof(struct landlock_ruleset_attr, handled_access_net);
	if (abi >= 6) {
		ra.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		size = sizeof(ra);
	}
	rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, size, 0);
	if (rfd == -1)
		return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;

	for (i = 0; i < n; i++) {
		fd = open(write[i], O_PATH | O_CLOEXEC | O_DIRECTORY);
		if (fd == -1) {
			/* A directory the configuration names but this host lacks
			 * grants nothing; skipping it cannot widen the sandbox. */
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			rc = -errno;
			goto out;
		}
		memset(&pb, 0, sizeof(pb));
		pb.allowed_access = ra.handled_access_fs;
		pb.parent_fd = fd;
		rc = (int)syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
		e = errno;
		close(fd);
		if (rc == -1) {
			rc = -e;
			goto out;
		}
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) == -1) {
		rc = -errno;
		goto out;
	}
	rc = abi;
out:
	close(rfd);
	return rc;
}

const char *
local_landlock_describe(int abi)
{
	static const char *const text[] = {
		"not available on this kernel",
		"ABI 1: writes confined",
		"ABI 2: writes and cross-directory renames confined",
		"ABI 3: writes and truncation confined",
		"ABI 4: writes and truncation confined",
		"ABI 5: writes, truncation and device ioctls confined",
		"ABI 6: writes confined; abstract unix sockets and signals scoped to the sandbox",
		"ABI 7: writes confined; abstract unix sockets and signals scoped to the sandbox",
	};

	if (abi <= 0)
		return text[0];
	if (abi < (int)(sizeof(text) / sizeof(text[0])))
		return text[abi];
	/* A newer kernel: we apply what ABI 7 gives. */
	return "ABI 8+: writes confined; abstract unix sockets and signals scoped to the sandbox";
}
