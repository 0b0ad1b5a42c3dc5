/*
 * files.c -- the file ops on E2B: envd's filesystem service (stat, list, mkdir, move,
 * remove) and its /files endpoint (read, write); a mode is set with chmod, and
 * file_search filters a ListDir of the needed depth with backends/common/search.h.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "backends/common/search.h"

#define E2B_SEARCH_MATCH_MAX 1000
#define E2B_SEARCH_DEPTH_MAX 32

int
e2b_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct envd_target t;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	return envd_file_read(&t, path, offset, max_bytes, out, size, c, e);
}

int
e2b_file_write(struct backend *b, const char *id, const char *path, const void *data, size_t len,
    uint32_t mode, struct call *c, struct err *e)
{
	struct envd_target t;
	int code = 0, rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0 ||
	    (rc = envd_file_write(&t, path, data, len, c, e)) != 0)
		return rc;
	if (mode != FILE_MODE_DEFAULT) {
		/* /files has no mode: set it with chmod, without a shell (no quoting), run in the
		 * file's directory on its base name so only envd resolves the path. */
		const char *slash = strrchr(path, '/');
		const char *dir = slash == NULL ? NULL
		    : slash == path             ? "/"
		                                : arena_strndup(c->a, path, (size_t)(slash - path));
		const char *argv[] = { "chmod", arena_printf(c->a, "%o", mode & 07777), "--",
			slash ? slash + 1 : path };

		if ((rc = envd_run(&t, argv, 4, dir, &code, c, e)) != 0)
			return rc;
		if (code != 0)
			return err_set(e, ERR_BACKEND,
			    "%s was written but chmod %o failed (exit %d)", path, mode & 07777,
			    code);
	}
	return 0;
}

int
e2b_file_list(struct backend *b, const char *id, const char *path, int depth, struct file_list *out,
    struct call *c, struct err *e)
{
	struct envd_target t;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	return envd_list_dir(&t, path, depth < 1 ? 1 : depth, ENVD_LIST_MAX, out, c, e);
}

int
e2b_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct envd_target t;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	rc = envd_stat(&t, path, out, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		rc = err_set(e, ERR_NOTFOUND, "%s does not exist in sandbox %s", path,
		    t.sandbox_id);
	}
	return rc;
}

int
e2b_file_mkdir(struct backend *b, const char *id, const char *path, bool *created, struct call *c,
    struct err *e)
{
	struct envd_target t;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	return envd_mkdir(&t, path, created, c, e);
}

int
e2b_file_move(struct backend *b, const char *id, const char *src, const char *dst, struct call *c,
    struct err *e)
{
	struct envd_target t;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	return envd_move(&t, src, dst, c, e);
}

int
e2b_file_remove(struct backend *b, const char *id, const char *path, bool *removed, struct call *c,
    struct err *e)
{
	struct envd_target t;
	struct file_entry fe;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	/* envd's Remove is rm -rf (a missing path is fine), so ask first. */
	rc = envd_stat(&t, path, &fe, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		*removed = false;
		return 0;
	}
	if (rc != 0)
		return rc;
	rc = envd_remove(&t, path, c, e);
	*removed = rc == 0;
	return rc;
}

int
e2b_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e)
{
	struct envd_target t;
	struct file_list fl = { 0 };
	struct search s;
	int depth, rc;

	memset(out, 0, sizeof(*out));
	if ((rc = search_check(pattern, e)) != 0)
		return rc;
	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	if (path[0] != '/') {
		/* Entries carry absolute paths: learn what a relative root resolves to. */
		struct file_entry root;

		if ((rc = envd_stat(&t, path, &root, c, e)) != 0)
			return rc;
		path = root.path;
	}
	depth = search_depth(pattern, E2B_SEARCH_DEPTH_MAX);
	if ((rc = envd_list_dir(&t, path, depth, ENVD_LIST_MAX, &fl, c, e)) != 0)
		return rc;
	/* envd joins the requested path with the relative one (BRIEF §8), so every entry is
	 * under path. */
	rc = search_begin(&s, path, pattern, 0, fl.n, E2B_SEARCH_MATCH_MAX, out, c->a, e);
	if (rc != 0)
		return rc;
	out->truncated = fl.truncated;
	for (size_t i = 0; i < fl.n; i++)
		if (!search_add(&s, fl.items[i].path))
			break;
	return 0;
}
