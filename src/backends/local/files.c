/*
 * files.c -- file operations on a local sandbox.
 *
 * Each path is opened inside the sandbox by its file helper (helper.c); the fd it passes
 * back is used here. Walks below that fd (file_list, file_search, recursive remove, a move across
 * mounts) use *at() calls with O_NOFOLLOW on names read from the directory, so they never
 * leave the tree that was opened. When the server runs as root, host-side work runs with
 * the fsuid of the sandbox's user (local_fs_enter), so permissions and new files' owners
 * match it. Isolation none opens paths in-process, relative to the workspace.
 */
#include "backends/local/internal.h"
#include "util/glob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/time.h"

#define LIST_MAX         10000
#define SEARCH_MATCH_MAX 10000
#define SEARCH_VISIT_MAX 200000
#define WALK_DEPTH_MAX   64
#define COPY_CHUNK       65536

#define L_PROC_SUPER_MAGIC 0x9fa0
#define L_SYSFS_MAGIC      0x62656572

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

/* ---- paths and errors ------------------------------------------------------------------- */

struct lfs {
	struct local *L;
	struct lsb sb;
	int wsfd; /* isolation none: the workspace, base of relative paths */
	struct call *c;
};

static int
fs_open(struct backend *b, const char *id, struct call *c, struct lfs *fs, struct err *e)
{
	char ws[PATH_MAX];
	int rc;

	memset(fs, 0, sizeof(*fs));
	fs->L = LOC(b);
	fs->c = c;
	fs->wsfd = -1;
	rc = store_load(fs->L, id, c->a, &fs->sb, e);
	if (rc != 0 || fs->sb.isolate)
		return rc;
	store_path(ws, &fs->sb, "workspace");
	fs->wsfd = open(ws, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->wsfd < 0)
		return err_set(e, ERR_IO, "cannot open the workspace %s: %s", ws, strerror(errno));
	return 0;
}

static void
fs_close(struct lfs *fs)
{
	if (fs->wsfd >= 0)
		close(fs->wsfd);
	fs->wsfd = -1;
}

static int
path_ok(const char *path, struct err *e)
{
	if (path == NULL || path[0] == '\0')
		return err_set(e, ERR_INVAL,
		    "path is empty; give a path such as "
		    "/workspace/notes.txt (relative paths are under /workspace)");
	if (strlen(path) >= PATH_MAX)
		return err_set(e, ERR_INVAL, "path is longer than %d bytes", PATH_MAX - 1);
	return 0;
}

/* Lexical clean-up of an absolute path: no "//", ".", ".." or trailing '/'. */
static char *
path_clean(struct arena *a, const char *p)
{
	size_t n = strlen(p), o = 0;
	char *out = arena_alloc(a, n + 2);
	const char *s = p;

	if (out == NULL)
		return NULL;
	out[o++] = '/';
	while (*s != '\0') {
		const char *t;
		size_t len;

		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		for (t = s; *t != '\0' && *t != '/'; t++)
			;
		len = (size_t)(t - s);
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
		} else if (!(len == 1 && s[0] == '.')) {
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s = t;
	}
	out[o] = '\0';
	return out;
}

/* The path as the sandbox sees it, for results and messages. */
static const char *
show_path(const struct lfs *fs, const char *path)
{
	char ws[PATH_MAX];
	const char *full = path, *clean;

	if (path[0] != '/') {
		if (fs->sb.isolate)
			full = arena_printf(fs->c->a, "%s/%s", LOCAL_WS, path);
		else {
			store_path(ws, &fs->sb, "workspace");
			full = arena_printf(fs->c->a, "%s/%s", ws, path);
		}
	}
	clean = full != NULL ? path_clean(fs->c->a, full) : NULL;
	return clean != NULL ? clean : path;
}

static const char *
join_path(struct arena *a, const char *dir, const char *name)
{
	return strcmp(dir, "/") == 0 ? arena_printf(a, "/%s", name)
	                             : arena_printf(a, "%s/%s", dir, name);
}

static int
fs_err(const struct lfs *fs, struct err *e, int errnum, const char *verb, const char *show)
{
	switch (errnum) {
	case ENOENT:
		return err_set(e, ERR_NOTFOUND, "%s does not exist in the sandbox", show);
	case ENOTDIR:
		return err_set(e, ERR_NOTFOUND,
		    "%s does not exist in the sandbox (a part of the "
		    "path is not a directory)",
		    show);
	case EROFS:
		return err_set(e, ERR_INVAL,
		    fs->sb.isolate ? "cannot %s %s: it is read-only in "
		                     "the sandbox; only /workspace, /tmp and your home are writable"
		                   : "cannot %s %s: the file system is read-only",
		    verb, show);
	case EACCES:
	case EPERM:
		return err_set(e, ERR_INVAL, "cannot %s %s: permission denied", verb, show);
	case EISDIR:
		return err_set(e, ERR_INVAL, "cannot %s %s: it is a directory", verb, show);
	case EEXIST:
		return err_set(e, ERR_EXISTS, "cannot %s %s: it already exists", verb, show);
	case ENOTEMPTY:
		return err_set(e, ERR_INVAL, "cannot %s %s: the directory is not empty", verb,
		    show);
	case ELOOP:
		return err_set(e, ERR_INVAL, "cannot %s %s: too many levels of symbolic links",
		    verb, show);
	case ENAMETOOLONG:
		return err_set(e, ERR_INVAL, "cannot %s %s: the path is too long", verb, show);
	case EBUSY:
		return err_set(e, ERR_INVAL,
		    "cannot %s %s: it is a mount point of the sandbox "
		    "(such as /workspace or /tmp); work on what is inside it",
		    verb, show);
	case ENXIO:
		return err_set(e, ERR_INVAL, "cannot %s %s: it is a FIFO or device with no peer",
		    verb, show);
	case ENOSPC:
	case EDQUOT:
		return err_set(e, ERR_IO, "cannot %s %s: no space left on this machine's disk",
		    verb, show);
	default:
		return err_set(e, ERR_IO, "cannot %s %s: %s", verb, show, strerror(errnum));
	}
}

/* Runs one helper op; maps a path error with verb. */
static int
fs_help(struct lfs *fs, int op, const char *path, int flags, mode_t mode, bool mkparents,
    struct lh_rep *rp, int *fd, const char *verb, struct err *e)
{
	struct lh_req rq;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.op = op;
	rq.path = path;
	rq.flags = flags;
	rq.mode = mode;
	rq.mkparents = mkparents;
	rc = local_helper(fs->L, &fs->sb, fs->wsfd, &rq, rp, fd, fs->c, e);
	if (rc != 0)
		return rc;
	if (rp->err != 0)
		return fs_err(fs, e, rp->err, verb, show_path(fs, path));
	return 0;
}

static void
entry_fill(struct file_entry *en, struct arena *a, const char *name, const char *path,
    const struct stat *st, const char *link)
{
	memset(en, 0, sizeof(*en));
	en->name = arena_strdup(a, name);
	en->path = path;
	en->type = S_ISREG(st->st_mode) ? FILE_T_FILE
	    : S_ISDIR(st->st_mode)      ? FILE_T_DIR
	    : S_ISLNK(st->st_mode)      ? FILE_T_SYMLINK
	                                : FILE_T_OTHER;
	en->size = (int64_t)st->st_size;
	en->mode = (uint32_t)(st->st_mode & 07777);
	en->modified_at = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	en->link_target = link != NULL ? arena_strdup(a, link) : NULL;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s == NULL ? path : (s[1] == '\0' && s == path ? "/" : s + 1);
}

/* ---- recursive remove and copy ----------------------------------------------------------- */

static int
copy_file(int sfd, const char *sname, int dfd, const char *dname, mode_t mode)
{
	char *buf;
	int in, out, rc = 0;

	in = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		return errno;
	out = openat(dfd, dname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		rc = errno;
		close(in);
		return rc;
	}
	buf = xmalloc(COPY_CHUNK);
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? errno : 0;
			break;
		}
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = k < 0 ? errno : EIO;
				break;
			}
			w += k;
		}
		if (rc != 0)
			break;
	}
	free(buf);
	if (fchmod(out, mode) < 0 && rc == 0)
		rc = errno;
	close(in);
	close(out);
	return rc;
}

static int
copy_tree(int sfd, const char *sname, int dfd, const char *dname, int depth)
{
	struct stat st;
	char link[PATH_MAX], **names;
	size_t n;
	ssize_t k;
	int s2, d2, rc = 0;

	if (depth > WALK_DEPTH_MAX)
		return ELOOP;
	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (S_ISREG(st.st_mode))
		return copy_file(sfd, sname, dfd, dname, st.st_mode & 07777);
	if (S_ISLNK(st.st_mode)) {
		k = readlinkat(sfd, sname, link, sizeof(link) - 1);
		if (k < 0)
			return errno;
		link[k] = '\0';
		unlinkat(dfd, dname, 0);
		return symlinkat(link, dfd, dname) < 0 ? errno : 0;
	}
	if (!S_ISDIR(st.st_mode))
		return ENOTSUP;
	if (mkdirat(dfd, dname, 0700) < 0 && errno != EEXIST)
		return errno;
	s2 = openat(sfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d2 = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s2 < 0 || d2 < 0) {
		rc = errno;
		goto out;
	}
	names = local_read_names(s2, &n);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = copy_tree(s2, names[i], d2, names[i], depth + 1);
	local_names_free(names, n);
	if (rc == 0 && fchmod(d2, st.st_mode & 07777) < 0)
		rc = errno;
out:
	if (s2 >= 0)
		close(s2);
	if (d2 >= 0)
		close(d2);
	return rc;
}

/* ---- the ops -------------------------------------------------------------------------------- */

int
local_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	struct stat st;
	size_t got = 0;
	int fd = -1, rc;

	if (size != NULL)
		*size = 0;
	if (path_ok(path, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = fs_help(&fs, LH_OPEN, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, false, &rp,
		    &fd, "read", e);
	if (rc != 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		rc = fs_err(&fs, e, errno, "read", show_path(&fs, path));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = err_set(e, ERR_INVAL,
		    "%s is a directory; use file_list to see what it "
		    "contains",
		    show_path(&fs, path));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(e, ERR_INVAL,
		    "%s is not a regular file (a device, FIFO or socket), so "
		    "it cannot be read as a file",
		    show_path(&fs, path));
		goto out;
	}
	/* Straight into out: a file's size is known, so one read usually does; past it (a
	 * file that grew, or /proc's that say 0) reads grow from a page to a chunk. */
	while (got < max_bytes) {
		size_t left = max_bytes - got, want = got < 4096 ? 4096 : got;
		ssize_t n;

		if (want > COPY_CHUNK)
			want = COPY_CHUNK;
		if ((uint64_t)st.st_size > offset + got)
			want = (uint64_t)st.st_size - offset - got;
		if (want > left)
			want = left;
		if (buf_reserve(out, want, e) != 0) {
			rc = e->code;
			break;
		}
		n = pread(fd, out->p + out->len, want, (off_t)(offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fs_err(&fs, e, errno, "read", show_path(&fs, path));
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->p[out->len] = '\0'; /* as buf_append keeps it */
		got += (size_t)n;
	}
	if (size != NULL)
		*size = st.st_size == 0 && got > 0 ? (int64_t)(offset + got) : (int64_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}

int
local_file_write(struct backend *b, const char *id, const char *path, const void *data, size_t len,
    uint32_t mode, struct call *c, struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	struct stat st;
	mode_t m = mode == FILE_MODE_DEFAULT ? 0644 : (mode_t)(mode & 07777);
	size_t off = 0;
	int fd = -1, rc;

	if (path_ok(path, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = fs_help(&fs, LH_OPEN, path,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY, m, true, &rp, &fd,
		    "write", e);
	if (rc != 0)
		goto out;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(e, ERR_INVAL, "cannot write %s: it is not a regular file",
		    show_path(&fs, path));
		goto out;
	}
	if (mode != FILE_MODE_DEFAULT && fchmod(fd, m) < 0) {
		rc = fs_err(&fs, e, errno, "chmod", show_path(&fs, path));
		goto out;
	}
	while (off < len) {
		ssize_t n = pwrite(fd, (const char *)data + off, len - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = fs_err(&fs, e, n < 0 ? errno : EIO, "write", show_path(&fs, path));
			break;
		}
		off += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}

int
local_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	const char *show;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if (path_ok(path, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = fs_help(&fs, LH_LSTAT, path, 0, 0, false, &rp, &fd, "stat", e);
	if (rc == 0) {
		show = show_path(&fs, path);
		entry_fill(out, c->a, base_name(show), show, &rp.st,
		    S_ISLNK(rp.st.st_mode) ? rp.link : NULL);
	}
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}

int
local_file_mkdir(struct backend *b, const char *id, const char *path, bool *created, struct call *c,
    struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	int fd = -1, rc;

	if (created != NULL)
		*created = false;
	if (path_ok(path, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = fs_help(&fs, LH_MKDIRP, path, 0, 0, false, &rp, &fd, "create directory", e);
	if (rc == 0 && created != NULL)
		*created = rp.created;
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}

struct walk {
	struct arena *a;
	struct file_entry *v;
	size_t n, cap, limit;
	bool truncated;
	const char *pattern;
	bool pat_full, pat_abs;
	const char **m;
	size_t nm, capm;
	size_t budget;
};

static void
list_walk(struct walk *w, int dirfd, const char *prefix, int depth)
{
	size_t n;
	char **names = local_read_names(dirfd, &n);

	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char link[PATH_MAX];
		const char *path;
		ssize_t k = -1;

		if (w->n >= w->limit) {
			w->truncated = true;
			break;
		}
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		path = join_path(w->a, prefix, names[i]);
		if (path == NULL)
			break;
		if (S_ISLNK(st.st_mode) &&
		    (k = readlinkat(dirfd, names[i], link, sizeof(link) - 1)) >= 0)
			link[k] = '\0';
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 64;
			w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
		}
		entry_fill(&w->v[w->n++], w->a, names[i], path, &st, k >= 0 ? link : NULL);
		if (S_ISDIR(st.st_mode) && depth > 1) {
			int sub = openat(dirfd, names[i],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

			if (sub >= 0) {
				list_walk(w, sub, path, depth - 1);
				close(sub);
			}
		}
	}
	local_names_free(names, n);
}

int
local_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	struct walk w;
	int fd = -1, rc, tok;

	memset(out, 0, sizeof(*out));
	memset(&rp, 0, sizeof(rp));
	if (path_ok(path, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc != 0)
		goto out;
	rc = fs_help(&fs, LH_OPEN, path, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0, false, &rp, &fd,
	    "list", e);
	if (rc == ERR_NOTFOUND && rp.err == ENOTDIR) {
		err_clear(e);
		rc = err_set(e, ERR_INVAL, "%s is not a directory; use file_stat or file_read",
		    show_path(&fs, path));
	}
	if (rc != 0)
		goto out;
	memset(&w, 0, sizeof(w));
	w.a = c->a;
	w.limit = LIST_MAX;
	tok = local_fs_enter(fs.L);
	list_walk(&w, fd, show_path(&fs, path),
	    depth < 1                    ? 1
	        : depth > WALK_DEPTH_MAX ? WALK_DEPTH_MAX
	                                 : depth);
	local_fs_leave(fs.L, tok);
	if (w.n > 0) {
		out->items = arena_alloc(c->a, w.n * sizeof(*out->items));
		if (out->items == NULL) {
			rc = err_set(e, ERR_TOOBIG,
			    "the listing is too large; list a smaller depth");
		} else {
			memcpy(out->items, w.v, w.n * sizeof(*out->items));
			out->n = w.n;
		}
	}
	out->truncated = w.truncated;
	free(w.v);
out:
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}

static void
search_walk(struct walk *w, int dirfd, const char *show, const char *rel, int depth)
{
	size_t n;
	char **names = local_read_names(dirfd, &n);

	for (size_t i = 0; i < n && !w->truncated; i++) {
		struct stat st;
		struct statfs sf;
		const char *path, *r, *subject;

		if (w->budget == 0 || w->nm >= SEARCH_MATCH_MAX) {
			w->truncated = true;
			break;
		}
		w->budget--;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		path = join_path(w->a, show, names[i]);
		r = rel != NULL ? arena_printf(w->a, "%s/%s", rel, names[i])
		                : arena_strdup(w->a, names[i]);
		if (path == NULL || r == NULL)
			break;
		subject = w->pat_abs ? path : w->pat_full ? r : names[i];
		if (glob_match(w->pattern, subject)) {
			if (w->nm == w->capm) {
				w->capm = w->capm ? w->capm * 2 : 64;
				w->m = xrealloc(w->m, w->capm * sizeof(*w->m));
			}
			w->m[w->nm++] = path;
		}
		if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX) {
			int sub = openat(dirfd, names[i],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

			if (sub < 0)
				continue;
			if (fstatfs(sub, &sf) == 0 &&
			    (sf.f_type == L_PROC_SUPER_MAGIC || sf.f_type == L_SYSFS_MAGIC)) {
				close(sub);
				continue;
			}
			search_walk(w, sub, path, r, depth + 1);
			close(sub);
		}
	}
	local_names_free(names, n);
}

int
local_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	struct walk w;
	int fd = -1, rc, tok;

	memset(out, 0, sizeof(*out));
	if (path == NULL || path[0] == '\0')
		path = ".";
	if (pattern == NULL || pattern[0] == '\0')
		return err_set(e, ERR_INVAL, "pattern is empty; give a glob such as **/*.py");
	while (pattern[0] == '.' && pattern[1] == '/')
		pattern += 2;
	if (path_ok(path, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = fs_help(&fs, LH_OPEN, path, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0, false, &rp,
		    &fd, "search", e);
	if (rc != 0)
		goto out;
	memset(&w, 0, sizeof(w));
	w.a = c->a;
	w.pattern = pattern;
	w.pat_abs = pattern[0] == '/';
	w.pat_full = strchr(pattern, '/') != NULL;
	w.budget = SEARCH_VISIT_MAX;
	tok = local_fs_enter(fs.L);
	search_walk(&w, fd, show_path(&fs, path), NULL, 0);
	local_fs_leave(fs.L, tok);
	if (w.nm > 0) {
		out->matches = arena_alloc(c->a, w.nm * sizeof(*out->matches));
		if (out->matches == NULL) {
			rc = err_set(e, ERR_TOOBIG, "too many matches; use a narrower pattern");
		} else {
			memcpy(out->matches, w.m, w.nm * sizeof(*out->matches));
			out->n = w.nm;
		}
	}
	out->truncated = w.truncated;
	free(w.m);
out:
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}

/* Splits a path into its parent directory and last name; refuses "/", "." and "..". */
static int
split_path(struct lfs *fs, const char *path, const char **dir, const char **base, struct err *e)
{
	size_t n = strlen(path);
	char *p = arena_strndup(fs->c->a, path, n), *slash;

	if (p == NULL)
		return err_set(e, ERR_TOOBIG, "the request is too large");
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (slash == NULL) {
		*dir = ".";
		*base = p;
	} else {
		*base = slash + 1;
		if (slash == p) {
			*dir = "/";
		} else {
			*slash = '\0';
			*dir = p;
		}
	}
	if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
		return err_set(e, ERR_INVAL,
		    "%s does not name a file or directory; give its full "
		    "path",
		    show_path(fs, path));
	return 0;
}

int
local_file_move(struct backend *b, const char *id, const char *src, const char *dst, struct call *c,
    struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	const char *sdir, *sbase, *ddir, *dbase;
	struct stat st;
	int sfd = -1, dfd = -1, rc, tok = -1, r;

	if (path_ok(src, e) != 0 || path_ok(dst, e) != 0)
		return e->code;
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = split_path(&fs, src, &sdir, &sbase, e);
	if (rc == 0)
		rc = split_path(&fs, dst, &ddir, &dbase, e);
	if (rc == 0)
		rc = fs_help(&fs, LH_OPEN, sdir, O_PATH | O_DIRECTORY, 0, false, &rp, &sfd, "move",
		    e);
	if (rc == 0)
		rc = fs_help(&fs, LH_MKDIRP, ddir, 0, 0, false, &rp, &dfd, "move to", e);
	if (rc != 0)
		goto out;
	tok = local_fs_enter(fs.L);
	if (fstatat(sfd, sbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fs_err(&fs, e, errno, "move", show_path(&fs, src));
		goto out;
	}
	if (local_is_mount_root(sfd, sbase)) {
		rc = fs_err(&fs, e, EBUSY, "move", show_path(&fs, src));
		goto out;
	}
	if (renameat(sfd, sbase, dfd, dbase) == 0)
		goto out;
	if (errno != EXDEV) {
		rc = fs_err(&fs, e, errno, "move", show_path(&fs, src));
		goto out;
	}
	/* Across mounts (e.g. /tmp to /workspace): copy, then remove the source. */
	r = copy_tree(sfd, sbase, dfd, dbase, 0);
	if (r == 0)
		r = local_rmtree(sfd, sbase);
	if (r != 0) {
		if (fstatat(sfd, sbase, &st, AT_SYMLINK_NOFOLLOW) == 0)
			local_rmtree(dfd, dbase); /* the source is intact: undo the copy */
		rc = fs_err(&fs, e, r, "move", show_path(&fs, src));
	}
out:
	local_fs_leave(fs.L, tok);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	fs_close(&fs);
	return rc;
}

int
local_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e)
{
	struct lfs fs;
	struct lh_rep rp;
	const char *dir, *base;
	struct stat st;
	int fd = -1, rc, tok = -1, r;

	if (removed != NULL)
		*removed = false;
	if (path_ok(path, e) != 0)
		return e->code;
	memset(&rp, 0, sizeof(rp));
	rc = fs_open(b, id, c, &fs, e);
	if (rc == 0)
		rc = split_path(&fs, path, &dir, &base, e);
	if (rc != 0)
		goto out;
	rc = fs_help(&fs, LH_OPEN, dir, O_PATH | O_DIRECTORY, 0, false, &rp, &fd, "remove", e);
	if (rc == ERR_NOTFOUND && (rp.err == ENOENT || rp.err == ENOTDIR)) {
		err_clear(e); /* the parent is missing: nothing to remove */
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	tok = local_fs_enter(fs.L);
	if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			rc = fs_err(&fs, e, errno, "remove", show_path(&fs, path));
		goto out;
	}
	if (local_is_mount_root(fd, base)) {
		rc = fs_err(&fs, e, EBUSY, "remove", show_path(&fs, path));
		goto out;
	}
	r = local_rmtree(fd, base);
	if (r != 0)
		rc = fs_err(&fs, e, r, "remove", show_path(&fs, path));
	else if (removed != NULL)
		*removed = true;
out:
	local_fs_leave(fs.L, tok);
	if (fd >= 0)
		close(fd);
	fs_close(&fs);
	return rc;
}
