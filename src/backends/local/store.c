/*
 * store.c -- the state root: sandbox ids and directories, meta.json (the server's record),
 * sup.json (the supervisor's record), locks, removal, and the small process and directory
 * helpers every other file of the backend uses.
 *
 * Nothing here trusts a file more than it must: an unreadable or damaged record is an error
 * sentence, never a default that weakens the sandbox (isolation comes from the server's
 * configuration, not from meta.json). Both the server and the supervisor use this file.
 */
#include "backends/local/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/mem.h"
#include "util/time.h"

#define META_MAX                (1024 * 1024)
#define WALK_DEPTH_MAX          256
#define L_STATX_ATTR_MOUNT_ROOT 0x2000ULL

#ifndef SYS_statx
#define SYS_statx 332
#endif

struct l_statx {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, pad1;
	uint64_t ino, size, blocks, attributes_mask;
	struct {
		int64_t sec;
		uint32_t nsec;
		int32_t pad;
	} atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	uint64_t mnt_id;
	uint64_t spare[13];
};

bool
store_id_ok(const char *id)
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

int
store_notfound(struct err *e, const char *id)
{
	return err_set(e, ERR_NOTFOUND,
	    "sandbox %s does not exist (it may have expired or been "
	    "killed); list sandboxes with sandbox_list or create one with sandbox_create",
	    id != NULL ? id : "(none)");
}

void
store_path(char *out, const struct lsb *sb, const char *sub)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", sb->dir, sub);

	if (n < 0 || n >= PATH_MAX)
		out[0] = '\0';
}

static int
read_small(const char *path, size_t max, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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

/* Writes b to dir/name atomically (a temporary file renamed over it). 0 or an errno. */
static int
write_atomic(const char *dir, const char *name, const struct buf *b)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp))
		return ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno;
	if (write(fd, b->p, b->len) != (ssize_t)b->len)
		rc = errno != 0 ? errno : EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* ---- meta.json -------------------------------------------------------------------------- */

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

static void
kv_write(struct jsonw *w, const char *key, const struct kv *kv, size_t n)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_kstr(w, kv[i].key, kv[i].value != NULL ? kv[i].value : "");
	jsonw_obj_end(w);
}

static void
lim_read(const struct json *j, struct lim *l)
{
	int64_t v;

	memset(l, 0, sizeof(*l));
	if (j == NULL || j->type != JSON_OBJECT)
		return;
	if (json_int(json_get(j, "memory"), &v) && v > 0)
		l->memory = v;
	if (json_int(json_get(j, "cpu_milli"), &v) && v > 0)
		l->cpu_milli = v;
	if (json_int(json_get(j, "pids"), &v) && v > 0)
		l->pids = v;
}

static void
lim_write(struct jsonw *w, const char *key, const struct lim *l)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	jsonw_kint(w, "memory", l->memory);
	jsonw_kint(w, "cpu_milli", l->cpu_milli);
	jsonw_kint(w, "pids", l->pids);
	jsonw_obj_end(w);
}

/* Reads sb->dir/meta.json into sb (id, dir and isolate already set). */
static int
meta_read(struct lsb *sb, struct arena *a, struct err *e)
{
	char path[PATH_MAX];
	struct buf b = { 0 };
	const struct json *j;
	int64_t v;
	int rc;

	store_path(path, sb, "meta.json");
	rc = read_small(path, META_MAX, &b);
	if (rc != 0) {
		buf_fini(&b);
		if (rc == ENOENT || rc == ENOTDIR)
			return store_notfound(e, sb->id);
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
	if (npol_read_json(json_get(j, "network"), &sb->net, a, e) != 0) {
		err_prefix(e, "sandbox %s has a damaged meta.json (kill it): ", sb->id);
		return e->code;
	}
	sb->paused = json_truthy(json_get(j, "paused"));
	sb->ephemeral = json_truthy(json_get(j, "ephemeral"));
	if (json_int(json_get(j, "created_at"), &v))
		sb->created_at = v;
	if (json_int(json_get(j, "expires_at"), &v))
		sb->expires_at = v;
	sb->template_name = json_get_str(j, "template");
	sb->cpu = json_get_str(j, "cpu");
	sb->memory = json_get_str(j, "memory");
	lim_read(json_get(j, "limits"), &sb->lim);
	if (json_int(json_get(j, "supervisor_pid"), &v))
		sb->legacy_pid = (pid_t)v; /* written by versions before the supervisor */
	if (json_int(json_get(j, "supervisor_start"), &v))
		sb->legacy_start = (unsigned long long)v;
	sb->env = kv_from(json_get(j, "env"), a, &sb->nenv);
	sb->metadata = kv_from(json_get(j, "metadata"), a, &sb->nmetadata);
	return 0;
}

int
store_meta_write(const struct lsb *sb, struct err *e)
{
	struct buf b = { 0 };
	struct jsonw w;
	int rc;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "id", sb->id);
	jsonw_kstr(&w, "template", sb->template_name != NULL ? sb->template_name : "local");
	jsonw_kint(&w, "created_at", sb->created_at);
	jsonw_kint(&w, "expires_at", sb->expires_at);
	/* Informational only: the server's configuration decides, never this file. */
	jsonw_kstr(&w, "isolation", sb->isolate ? "namespaces" : "none");
	jsonw_key(&w, "network");
	npol_write_json(&w, &sb->net);
	jsonw_kbool(&w, "paused", sb->paused);
	jsonw_kbool(&w, "ephemeral", sb->ephemeral);
	jsonw_kstr(&w, "cpu", sb->cpu);
	jsonw_kstr(&w, "memory", sb->memory);
	lim_write(&w, "limits", &sb->lim);
	kv_write(&w, "env", sb->env, sb->nenv);
	kv_write(&w, "metadata", sb->metadata, sb->nmetadata);
	jsonw_obj_end(&w);
	buf_putc(&b, '\n', NULL);
	if (jsonw_error(&w) != 0) {
		buf_fini(&b);
		return err_set(e, ERR_TOOBIG, "sandbox metadata is too large");
	}
	rc = write_atomic(sb->dir, "meta.json", &b);
	buf_fini(&b);
	if (rc != 0)
		return err_set(e, rc == ENOENT ? ERR_NOTFOUND : ERR_IO,
		    "cannot write the metadata "
		    "of sandbox %s: %s",
		    sb->id, strerror(rc));
	return 0;
}

/* ---- sup.json --------------------------------------------------------------------------- */

static void
copy_str(char *out, size_t cap, const char *s)
{
	snprintf(out, cap, "%s", s != NULL ? s : "");
}

int
store_sup_read(const char *dir, struct lsup *s)
{
	char path[PATH_MAX];
	struct buf b = { 0 };
	struct arena *a;
	const struct json *j, *cg;
	int64_t v;
	int rc;

	memset(s, 0, sizeof(*s));
	if (snprintf(path, sizeof(path), "%s/sup.json", dir) >= (int)sizeof(path))
		return ENAMETOOLONG;
	rc = read_small(path, 65536, &b);
	if (rc != 0) {
		buf_fini(&b);
		return rc;
	}
	a = arena_new(256 * 1024);
	j = json_parse(b.p != NULL ? b.p : "", b.len, a, NULL);
	buf_fini(&b);
	if (j == NULL || j->type != JSON_OBJECT) {
		arena_free(a);
		return EINVAL;
	}
	if (json_int(json_get(j, "pid"), &v))
		s->pid = (pid_t)v;
	if (json_int(json_get(j, "start"), &v))
		s->start = (unsigned long long)v;
	if (json_int(json_get(j, "init_pid"), &v))
		s->init_pid = (pid_t)v;
	if (json_int(json_get(j, "init_start"), &v))
		s->init_start = (unsigned long long)v;
	if (json_int(json_get(j, "landlock_abi"), &v))
		s->landlock_abi = (int)v;
	lim_read(json_get(j, "limits"), &s->lim);
	copy_str(s->memory_by, sizeof(s->memory_by), json_get_str(j, "memory_by"));
	copy_str(s->pids_by, sizeof(s->pids_by), json_get_str(j, "pids_by"));
	copy_str(s->cpu_by, sizeof(s->cpu_by), json_get_str(j, "cpu_by"));
	cg = json_get(j, "cgroup");
	if (cg != NULL && cg->type == JSON_OBJECT) {
		const char *mode = json_get_str(cg, "mode");

		s->cg.mode = mode == NULL     ? LIM_CG_NONE
		    : strcmp(mode, "v2") == 0 ? LIM_CG_V2
		    : strcmp(mode, "v1") == 0 ? LIM_CG_V1
		                              : LIM_CG_NONE;
		copy_str(s->cg.memory, sizeof(s->cg.memory), json_get_str(cg, "memory"));
		copy_str(s->cg.pids, sizeof(s->cg.pids), json_get_str(cg, "pids"));
		copy_str(s->cg.cpu, sizeof(s->cg.cpu), json_get_str(cg, "cpu"));
		copy_str(s->cg.freezer, sizeof(s->cg.freezer), json_get_str(cg, "freezer"));
	}
	arena_free(a);
	return s->pid > 0 ? 0 : EINVAL;
}

int
store_sup_write(const char *dir, const struct lsup *s)
{
	struct buf b = { 0 };
	struct jsonw w;
	int rc;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "pid", s->pid);
	jsonw_kint(&w, "start", (int64_t)s->start);
	jsonw_kint(&w, "init_pid", s->init_pid);
	jsonw_kint(&w, "init_start", (int64_t)s->init_start);
	jsonw_kint(&w, "landlock_abi", s->landlock_abi);
	lim_write(&w, "limits", &s->lim);
	jsonw_kstr(&w, "memory_by", s->memory_by);
	jsonw_kstr(&w, "pids_by", s->pids_by);
	jsonw_kstr(&w, "cpu_by", s->cpu_by);
	jsonw_key(&w, "cgroup");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "mode",
	    s->cg.mode == LIM_CG_V2       ? "v2"
	        : s->cg.mode == LIM_CG_V1 ? "v1"
	                                  : "none");
	jsonw_kstr(&w, "memory", s->cg.memory);
	jsonw_kstr(&w, "pids", s->cg.pids);
	jsonw_kstr(&w, "cpu", s->cg.cpu);
	jsonw_kstr(&w, "freezer", s->cg.freezer);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	buf_putc(&b, '\n', NULL);
	rc = jsonw_error(&w) != 0 ? EFBIG : write_atomic(dir, "sup.json", &b);
	buf_fini(&b);
	return rc;
}

/* ---- locks, changes, removal --------------------------------------------------------------- */

int
store_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
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

void
store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int
store_modify(struct local *L, struct lsb *sb, store_fn fn, void *arg, struct err *e)
{
	struct arena *a = arena_new(4 * META_MAX);
	struct lsb cur;
	int fd, rc;

	fd = store_lock(sb->dir);
	if (fd < 0) {
		arena_free(a);
		return store_notfound(e, sb->id);
	}
	memset(&cur, 0, sizeof(cur));
	memcpy(cur.id, sb->id, sizeof(cur.id));
	memcpy(cur.dir, sb->dir, sizeof(cur.dir));
	cur.isolate = sb->isolate;
	rc = meta_read(&cur, a, e);
	if (rc == 0)
		rc = fn(L, &cur, arg, e);
	if (rc == 0)
		rc = store_meta_write(&cur, e);
	if (rc == 0) {
		sb->paused = cur.paused;
		sb->expires_at = cur.expires_at; /* not net: its rules die with a */
	}
	store_unlock(fd);
	arena_free(a);
	return rc;
}

int
store_trash(const char *root, const char *dir, const char *id, char *trash)
{
	unsigned rnd = 0;
	int fd, n, rc = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) < 0)
		rnd = (unsigned)time_mono_ms();
	n = snprintf(trash, PATH_MAX, "%s/.trash-%s-%08x", root, id, rnd);
	if (n < 0 || n >= PATH_MAX)
		return -1;
	fd = store_lock(dir);
	if (rename(dir, trash) < 0)
		rc = -1; /* someone else removed it */
	store_unlock(fd);
	return rc;
}

static bool
expired(const struct lsb *sb)
{
	return sb->expires_at > 0 && time_wall_ms() >= sb->expires_at;
}

/* Removes an expired sandbox whose supervisor is gone (it kills its own otherwise). */
static void
store_reap(struct local *L, const struct lsb *sb)
{
	char trash[PATH_MAX];

	if (sb->has_sup && local_pid_alive(sb->sup.pid, sb->sup.start))
		return;
	if (sb->has_sup && local_pid_alive(sb->sup.init_pid, sb->sup.init_start))
		kill(sb->sup.init_pid, SIGKILL);
	if (local_pid_alive(sb->legacy_pid, sb->legacy_start))
		kill(sb->legacy_pid, SIGKILL);
	if (store_trash(L->root, sb->dir, sb->id, trash) == 0)
		local_rmtree(AT_FDCWD, trash);
}

int
store_load(struct local *L, const char *id, struct arena *a, struct lsb *sb, struct err *e)
{
	int rc, n;

	memset(sb, 0, sizeof(*sb));
	if (!store_id_ok(id))
		return id == NULL || *id == '\0'
		    ? err_set(e, ERR_INVAL,
		          "sandbox_id is missing; create a sandbox with "
		          "sandbox_create or list them with sandbox_list")
		    : err_set(e, ERR_NOTFOUND,
		          "sandbox %.64s does not exist: local sandbox ids look "
		          "like sbx-0123abcd; list them with sandbox_list",
		          id);
	memcpy(sb->id, id, strlen(id) + 1);
	n = snprintf(sb->dir, sizeof(sb->dir), "%s/%s", L->root, id);
	if (n < 0 || n >= (int)sizeof(sb->dir))
		return store_notfound(e, id);
	sb->isolate = L->isolate;
	rc = meta_read(sb, a, e);
	if (rc != 0)
		return rc;
	sb->has_sup = store_sup_read(sb->dir, &sb->sup) == 0;
	if (expired(sb)) {
		char when[40];

		store_reap(L, sb);
		time_format_rfc3339(sb->expires_at, when, sizeof(when));
		return err_set(e, ERR_NOTFOUND,
		    "sandbox %s expired at %s and was removed; create "
		    "a new one with sandbox_create",
		    id, when);
	}
	return 0;
}

/* ---- processes ------------------------------------------------------------------------------ */

int
local_proc_stat(pid_t pid, int first, int count, unsigned long long *out, char *state)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (p == NULL || p[1] == '\0')
		return -1;
	p += 2;
	if (state != NULL)
		*state = *p;
	for (field = 3; field < first; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -1;
		p++;
	}
	for (int i = 0; i < count; i++) {
		char *end;

		out[i] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
		while (*p == ' ')
			p++;
	}
	return 0;
}

unsigned long long
local_pid_start(pid_t pid)
{
	unsigned long long start;
	char state;

	if (local_proc_stat(pid, 22, 1, &start, &state) != 0 || state == 'Z' || state == 'X' ||
	    state == 'x')
		return 0;
	return start;
}

bool
local_pid_alive(pid_t pid, unsigned long long start)
{
	return pid > 0 && start != 0 && local_pid_start(pid) == start;
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

/* ---- process titles ----------------------------------------------------------------------- */

static char *title_at; /* argv's strings, contiguous, as the kernel laid them out */
static size_t title_cap;

void
local_title_init(int argc, char **argv)
{
	if (argc < 1 || argv[0] == NULL)
		return;
	title_at = argv[0];
	title_cap = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
}

void
local_title(const char *title)
{
	size_t n = strlen(title);

	prctl(PR_SET_NAME, title, 0, 0, 0); /* comm: the first 15 bytes */
	if (title_at == NULL || title_cap == 0)
		return;
	if (n > title_cap)
		n = title_cap;
	memcpy(title_at, title, n);
	memset(title_at + n, 0, title_cap - n + 1);
}

/* ---- paths and directory walks ----------------------------------------------------------- */

bool
local_beneath(const char *path, const char *base)
{
	size_t n = strlen(base);

	if (strcmp(base, "/") == 0)
		return true;
	return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool
local_is_mount_root(int dirfd, const char *name)
{
	struct l_statx sx;
	struct stat a, b;

	memset(&sx, 0, sizeof(sx));
	if (syscall(SYS_statx, dirfd, name, AT_SYMLINK_NOFOLLOW, 0, &sx) == 0 &&
	    (sx.attributes_mask & L_STATX_ATTR_MOUNT_ROOT))
		return (sx.attributes & L_STATX_ATTR_MOUNT_ROOT) != 0;
	return fstat(dirfd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev != b.st_dev;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
local_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

char **
local_read_names(int dirfd, size_t *n)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), name_cmp);
	return v;
}

static int
rmtree_at(int dirfd, const char *name, int depth)
{
	struct stat st;
	char **names;
	size_t n;
	int fd, rc = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? errno : 0;
	if (depth > WALK_DEPTH_MAX)
		return ELOOP;
	/* Pin the directory first: the sandbox may swap it for a symlink meanwhile, and a
	 * chmod by name would follow that link on the host. */
	fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? (unlinkat(dirfd, name, 0) < 0 ? errno : 0) : errno;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700) {
		char self[64];

		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		chmod(self, (st.st_mode & 07777) | 0700);
	}
	{
		int rd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

		close(fd);
		fd = rd;
	}
	if (fd < 0)
		return errno;
	names = local_read_names(fd, &n);
	for (size_t i = 0; i < n; i++) {
		int r;

		if (local_is_mount_root(fd, names[i])) {
			rc = EBUSY;
			continue;
		}
		r = rmtree_at(fd, names[i], depth + 1);
		if (r != 0 && rc == 0)
			rc = r;
	}
	local_names_free(names, n);
	close(fd);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = errno;
	return rc;
}

int
local_rmtree(int dirfd, const char *name)
{
	return rmtree_at(dirfd, name, 0);
}
