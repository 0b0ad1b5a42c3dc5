/*
 * fs.c -- envd's filesystem service: the messages (path, move and ListDir requests,
 * EntryInfo, the directory listing) and the calls Stat, MakeDir, Move, ListDir, Remove.
 */
#include "backends/e2b/envd/internal.h"

#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "filesystem.pb.h"
#include "util/mem.h"

/* Messages ---------------------------------------------------------------------------------- */

int
envd_pb_path_request(struct buf *out, const char *path, struct err *e)
{
	/* Stat, MakeDir and Remove requests are all {1: path}. */
	filesystem_StatRequest *req = xcalloc(1, sizeof(*req));
	int rc = envd_copy_bounded(req->path, sizeof(req->path), path, "the path", e);

	if (rc == 0)
		rc = envd_pb_to_buf(out, filesystem_StatRequest_fields, req, e);
	free(req);
	return rc;
}

int
envd_pb_move_request(struct buf *out, const char *src, const char *dst, struct err *e)
{
	filesystem_MoveRequest *req = xcalloc(1, sizeof(*req));
	int rc = envd_copy_bounded(req->source, sizeof(req->source), src, "the source path", e);

	if (rc == 0)
		rc = envd_copy_bounded(req->destination, sizeof(req->destination), dst,
		    "the destination path", e);
	if (rc == 0)
		rc = envd_pb_to_buf(out, filesystem_MoveRequest_fields, req, e);
	free(req);
	return rc;
}

int
envd_pb_list_dir_request(struct buf *out, const char *path, uint32_t depth, struct err *e)
{
	filesystem_ListDirRequest *req = xcalloc(1, sizeof(*req));
	int rc = envd_copy_bounded(req->path, sizeof(req->path), path, "the path", e);

	req->depth = depth;
	if (rc == 0)
		rc = envd_pb_to_buf(out, filesystem_ListDirRequest_fields, req, e);
	free(req);
	return rc;
}

static void
entry_convert(const filesystem_EntryInfo *in, struct file_entry *out, struct arena *a)
{
	memset(out, 0, sizeof(*out));
	out->name = arena_strdup(a, in->name);
	out->path = arena_strdup(a, in->path);
	switch (in->type) {
	case filesystem_FileType_FILE_TYPE_FILE:
		out->type = FILE_T_FILE;
		break;
	case filesystem_FileType_FILE_TYPE_DIRECTORY:
		out->type = FILE_T_DIR;
		break;
	case filesystem_FileType_FILE_TYPE_SYMLINK:
		out->type = FILE_T_SYMLINK;
		break;
	default:
		out->type = FILE_T_OTHER;
		break;
	}
	out->size = in->size;
	out->mode = in->mode & 07777;
	if (in->has_modified_time)
		out->modified_at = in->modified_time.seconds * 1000 +
		    in->modified_time.nanos / 1000000;
	if (in->has_symlink_target)
		out->link_target = arena_strdup(a, in->symlink_target);
}

int
envd_pb_entry_response(const void *p, size_t n, struct file_entry *out, struct arena *a,
    struct err *e)
{
	/* Stat/MakeDir/Move responses are all {1: EntryInfo}. */
	filesystem_StatResponse *msg = xcalloc(1, sizeof(*msg));
	pb_istream_t is = pb_istream_from_buffer(p, n);
	int rc = 0;

	if (!pb_decode(&is, filesystem_StatResponse_fields, msg))
		rc = err_set(e, ERR_PROTO, "envd sent a file entry that does not decode: %s",
		    PB_GET_ERROR(&is));
	else if (!msg->has_entry)
		rc = err_set(e, ERR_PROTO, "envd sent a response without the file entry");
	else
		entry_convert(&msg->entry, out, a);
	free(msg);
	if (rc == 0 && (out->name == NULL || out->path == NULL))
		rc = err_set(e, ERR_TOOBIG, "the request arena is full");
	return rc;
}

struct dec_list_dir {
	struct file_list *out;
	size_t cap, max;
	struct arena *a;
	filesystem_EntryInfo *tmp;
};

static bool
dec_entry(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct dec_list_dir *d = *arg;
	struct file_list *fl = d->out;

	memset(d->tmp, 0, sizeof(*d->tmp));
	if (!pb_decode(s, filesystem_EntryInfo_fields, d->tmp))
		return false;
	if (fl->n >= d->max) {
		fl->truncated = true;
		return true;
	}
	if (fl->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct file_entry *ni = arena_alloc(d->a, ncap * sizeof(*ni));

		if (ni == NULL)
			PB_RETURN_ERROR(s, "request arena full");
		if (fl->n)
			memcpy(ni, fl->items, fl->n * sizeof(*ni));
		fl->items = ni;
		d->cap = ncap;
	}
	entry_convert(d->tmp, &fl->items[fl->n], d->a);
	if (fl->items[fl->n].path == NULL)
		PB_RETURN_ERROR(s, "request arena full");
	fl->n++;
	return true;
}

int
envd_pb_list_dir_response(const void *p, size_t n, size_t max, struct file_list *out,
    struct arena *a, struct err *e)
{
	filesystem_ListDirResponse msg = filesystem_ListDirResponse_init_zero;
	struct dec_list_dir d = { out, 0, max, a, xcalloc(1, sizeof(filesystem_EntryInfo)) };
	pb_istream_t is = pb_istream_from_buffer(p, n);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	msg.entries.funcs.decode = dec_entry;
	msg.entries.arg = &d;
	if (!pb_decode(&is, filesystem_ListDirResponse_fields, &msg))
		rc = err_set(e, ERR_PROTO, "envd sent a directory listing that does not decode: %s",
		    PB_GET_ERROR(&is));
	free(d.tmp);
	return rc;
}

/* Filesystem service -------------------------------------------------------------------------- */

static int
entry_call(const struct envd_target *t, const char *rpc, const char *what, struct buf *req,
    bool idempotent, struct file_entry *out, struct call *c, struct err *e)
{
	struct buf resp;
	int rc;

	buf_init(&resp, 0);
	rc = envd_rpc_unary(t, rpc, what, req, idempotent, &resp, c, e);
	if (rc == 0 && out != NULL)
		rc = envd_pb_entry_response(resp.p ? resp.p : "", resp.len, out, c->a, e);
	buf_fini(&resp);
	buf_fini(req);
	return rc;
}

int
envd_stat(const struct envd_target *t, const char *path, struct file_entry *out, struct call *c,
    struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	if ((rc = envd_pb_path_request(&req, path, e)) != 0) {
		buf_fini(&req);
		return rc;
	}
	return entry_call(t, "/filesystem.Filesystem/Stat", arena_printf(c->a, "stat of %s", path),
	    &req, true, out, c, e);
}

int
envd_mkdir(const struct envd_target *t, const char *path, bool *created, struct call *c,
    struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	if ((rc = envd_pb_path_request(&req, path, e)) != 0) {
		buf_fini(&req);
		return rc;
	}
	rc = entry_call(t, "/filesystem.Filesystem/MakeDir",
	    arena_printf(c->a, "creating directory %s", path), &req, false, NULL, c, e);
	if (rc == ERR_EXISTS) {
		/* Clients map already_exists to "not created" (BRIEF §10). */
		err_clear(e);
		*created = false;
		return 0;
	}
	*created = rc == 0;
	return rc;
}

int
envd_move(const struct envd_target *t, const char *src, const char *dst, struct call *c,
    struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	if ((rc = envd_pb_move_request(&req, src, dst, e)) != 0) {
		buf_fini(&req);
		return rc;
	}
	return entry_call(t, "/filesystem.Filesystem/Move",
	    arena_printf(c->a, "moving %s to %s", src, dst), &req, false, NULL, c, e);
}

int
envd_list_dir(const struct envd_target *t, const char *path, int depth, size_t max,
    struct file_list *out, struct call *c, struct err *e)
{
	struct buf req, resp;
	int rc;

	buf_init(&req, 0);
	buf_init(&resp, 0);
	memset(out, 0, sizeof(*out));
	rc = envd_pb_list_dir_request(&req, path, depth < 1 ? 1 : (uint32_t)depth, e);
	if (rc == 0)
		rc = envd_rpc_unary(t, "/filesystem.Filesystem/ListDir",
		    arena_printf(c->a, "listing %s", path), &req, true, &resp, c, e);
	if (rc == 0)
		rc = envd_pb_list_dir_response(resp.p ? resp.p : "", resp.len,
		    max ? max : ENVD_LIST_MAX, out, c->a, e);
	buf_fini(&req);
	buf_fini(&resp);
	return rc;
}

int
envd_remove(const struct envd_target *t, const char *path, struct call *c, struct err *e)
{
	struct buf req;
	int rc;

	buf_init(&req, 0);
	if ((rc = envd_pb_path_request(&req, path, e)) != 0) {
		buf_fini(&req);
		return rc;
	}
	return envd_rpc_simple(t, "/filesystem.Filesystem/Remove",
	    arena_printf(c->a, "removing %s", path), &req, false, c, e);
}
