/*
 * files.c -- the file ops over execd's files API (§3.5): stat, ranged downloads,
 * multipart uploads, directories, moves, removal and search.
 *
 * Choices:
 *   - file_write: the mode travels in the upload's metadata, which execd applies with the
 *     same chmod as /files/permissions; without a mode a new file gets 0644 and an existing
 *     one keeps its mode (stat first, then upload mode 0 = leave it). Mode 0000 cannot be
 *     said to execd (0 means "leave it") and is set with chmod through /command.
 */
#include "backends/opensandbox/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/common/search.h"
#include "backends/common/time.h"
#include "util/str.h"
#include "util/time.h"

#define OS_STREAM_IDLE_MS 60000 /* transfers: a minute without a byte is dead */
#define OS_FILE_LIST_MAX  10000
#define OS_SEARCH_MAX     10000

/* "mode" is the octal permission digits written as a decimal number (0644 -> 644). */
static int64_t
mode_to_digits(uint32_t mode)
{
	char s[16];

	snprintf(s, sizeof(s), "%o", mode & 07777);
	return strtoll(s, NULL, 10);
}

static uint32_t
mode_from_digits(int64_t v)
{
	uint32_t m = 0, mul = 1;

	for (; v > 0 && mul <= 07777; v /= 10, mul *= 8) {
		if (v % 10 > 7)
			return 0;
		m += (uint32_t)(v % 10) * mul;
	}
	return m & 07777;
}

static enum file_type
ftype(const char *t)
{
	if (t == NULL)
		return FILE_T_OTHER;
	if (strcmp(t, "file") == 0)
		return FILE_T_FILE;
	if (strcmp(t, "directory") == 0)
		return FILE_T_DIR;
	if (strcmp(t, "symlink") == 0)
		return FILE_T_SYMLINK;
	return FILE_T_OTHER;
}

static void
entry_from_json(const struct json *j, const char *fallback_path, struct file_entry *out)
{
	const char *p = json_get_str(j, "path"), *slash;
	int64_t v;

	memset(out, 0, sizeof(*out));
	out->path = p != NULL ? p : fallback_path;
	slash = out->path != NULL ? strrchr(out->path, '/') : NULL;
	out->name = slash != NULL && slash[1] ? slash + 1 : out->path;
	out->type = ftype(json_get_str(j, "type"));
	out->size = json_int(json_get(j, "size"), &v) ? v : 0;
	out->mode = json_int(json_get(j, "mode"), &v) ? mode_from_digits(v) : 0;
	out->modified_at = btime_json(j, "modified_at");
}

struct upload {
	const char *head, *tail;
	const char *data;
	size_t len, off;
	int stage;
};

static int
upload_produce(void *arg, struct buf *out, struct err *e)
{
	struct upload *u = arg;
	size_t n;

	switch (u->stage) {
	case 0:
		u->stage = 1;
		return buf_puts(out, u->head, e);
	case 1:
		n = u->len - u->off < (256u << 10) ? u->len - u->off : (256u << 10);
		if (n > 0) {
			u->off += n;
			return buf_append(out, u->data + u->off - n, n, e);
		}
		u->stage = 2;
		/* fall through */
	case 2:
		u->stage = 3;
		return buf_puts(out, u->tail, e);
	default:
		return 0;
	}
}

int
os_upload(struct backend *b, struct call *c, const struct ep *ep, const char *path,
    const void *data, size_t len, uint32_t mode, struct err *e)
{
	struct os_rq r = { .method = "POST",
		.svc = OS_EXECD,
		.ep = ep,
		.producer = upload_produce };
	struct buf mb = { 0 };
	struct upload u = { .data = data, .len = len };
	struct jsonw w;
	char bnd[64], *fname, *f;
	const char *meta, *slash = strrchr(path, '/');
	size_t mlen;

	snprintf(bnd, sizeof(bnd), "sandbox-mcp-%016" PRIx64 "%08x", time_wall_ms(),
	    atomic_fetch_add(&os_seq, 1));
	jsonw_init(&w, &mb);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "path", path);
	jsonw_kint(&w, "mode", mode_to_digits(mode == FILE_MODE_DEFAULT ? 0644 : mode));
	jsonw_obj_end(&w);
	if ((meta = os_jsonw_done(&w, &mb, c, &mlen, e)) == NULL)
		return e->code;
	fname = arena_strdup(c->a, slash != NULL && slash[1] ? slash + 1 : "file");
	for (f = fname; f != NULL && *f; f++)
		if (*f == '"' || *f == '\\' || (unsigned char)*f < 0x20)
			*f = '_';
	u.head = arena_printf(c->a,
	    "--%s\r\nContent-Disposition: form-data; name=\"metadata\"; "
	    "filename=\"metadata\"\r\nContent-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
	    "Content-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n",
	    bnd, meta, bnd, fname != NULL ? fname : "file");
	u.tail = arena_printf(c->a, "\r\n--%s--\r\n", bnd);
	r.ctype = arena_printf(c->a, "multipart/form-data; boundary=%s", bnd);
	r.producer_arg = &u;
	r.deadline = call_deadline(c); /* big files: bounded by the call and the idle timeout */
	r.idle_ms = OS_STREAM_IDLE_MS;
	r.url = os_ep_url(b, c, ep, "/files/upload", e);
	if (u.head == NULL || u.tail == NULL || r.ctype == NULL || fname == NULL)
		return OOM(e);
	if (r.url == NULL)
		return e->code;
	return os_json(b, c, &r, 0, arena_printf(c->a, "writing %s", path), NULL, NULL, e);
}

/* 'it'\''s' for the shell. */
static const char *
sh_quote(struct call *c, const char *s)
{
	struct buf o = { 0 };
	char *r;

	buf_putc(&o, '\'', NULL);
	for (; *s; s++) {
		if (*s == '\'')
			buf_puts(&o, "'\\''", NULL);
		else
			buf_putc(&o, *s, NULL);
	}
	buf_putc(&o, '\'', NULL);
	r = o.p != NULL ? arena_strndup(c->a, o.p, o.len) : NULL;
	buf_fini(&o);
	return r;
}

struct chmod_out {
	char err[256];
	size_t n;
};

static int
chmod_event(void *arg, const struct exec_event *ev)
{
	struct chmod_out *o = arg;
	size_t take;

	if (ev->type == EXEC_EV_STDERR || ev->type == EXEC_EV_STDOUT) {
		take = sizeof(o->err) - 1 - o->n < ev->len ? sizeof(o->err) - 1 - o->n : ev->len;
		memcpy(o->err + o->n, ev->data, take);
		o->n += take;
		o->err[o->n] = '\0';
	}
	return 0;
}

/* execd reads mode 0 as "leave the mode alone" in uploads and in /files/permissions
 * (§3.5), so mode 0000 is set with chmod, run in the file's directory on its base name. */
static int
os_chmod_zero(struct backend *b, const char *id, const char *path, struct call *c, struct err *e)
{
	const char *slash = strrchr(path, '/');
	struct exec_req req = { .timeout_ms = 30000 };
	struct exec_result res;
	struct chmod_out o = { .n = 0 };
	int rc;

	req.cwd = slash == NULL ? NULL
	    : slash == path     ? "/"
	                        : arena_strndup(c->a, path, (size_t)(slash - path));
	req.command = arena_printf(c->a, "chmod 0 -- %s",
	    sh_quote(c, slash != NULL ? slash + 1 : path));
	if (req.command == NULL || (slash != NULL && req.cwd == NULL))
		return OOM(e);
	if ((rc = os_exec(b, id, &req, chmod_event, &o, &res, c, e)) != 0) {
		err_prefix(e, "%s was written, but setting its mode to 0000 failed: ", path);
		return rc;
	}
	if (!res.exited || res.exit_code != 0) {
		struct str t = str_trim(str_from(o.err));

		return err_set(e, ERR_BACKEND,
		    "%s was written, but setting its mode to 0000 failed "
		    "(chmod: %.*s)",
		    path, t.len > 0 ? (int)t.len : 9, t.len > 0 ? t.p : "no output");
	}
	return 0;
}

int
os_file_write(struct backend *b, const char *id, const char *path, const void *data, size_t len,
    uint32_t mode, struct call *c, struct err *e)
{
	uint32_t m = mode & 07777;
	struct file_entry fe;
	struct ep ep;
	int rc;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	if (mode == FILE_MODE_DEFAULT) {
		struct err se = { 0 };

		/* 0644 for a new file; an existing one keeps its mode (upload mode 0 leaves
		 * it alone, as a file is rewritten in place). */
		m = os_file_stat(b, id, path, &fe, c, &se) == 0 ? 0 : 0644;
	}
	rc = os_upload(b, c, &ep, path, data, len, m, e);
	if (rc == ERR_BACKEND && strstr(e->msg, "is a directory") != NULL) {
		err_clear(e);
		rc = err_set(e, ERR_EXISTS, "%s is a directory; choose a file path", path);
	}
	if (rc == 0 && mode != FILE_MODE_DEFAULT && m == 0)
		rc = os_chmod_zero(b, id, path, c, e);
	return rc;
}

int
os_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	const struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if ((r.url = os_execd_url(b, c, &ep, e, "/files/info?path=%s", qv(c, path))) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, arena_printf(c->a, "stat %s", path), &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
	if (rc != 0)
		return rc;
	if (j == NULL || j->type != JSON_OBJECT || j->head == NULL)
		return err_set(e, ERR_PROTO, "stat %s: execd answered without file info", path);
	entry_from_json(j->head, path, out);
	return 0;
}

struct dl {
	struct http_response *rs;
	struct buf *out;
	struct buf err;
	uint64_t offset, skip;
	size_t max, got;
	bool started;
};

static int
dl_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct dl *d = arg;
	size_t take;

	if (d->rs->status != 200 && d->rs->status != 206) {
		take = OS_ERR_BODY_MAX - d->err.len < n ? OS_ERR_BODY_MAX - d->err.len : n;
		(void)buf_append(&d->err, p, take, NULL);
		return 0;
	}
	if (!d->started) {
		d->started = true;
		if (d->rs->status == 200)
			d->skip = d->offset;
	}
	if (d->skip > 0) { /* a server that ignored Range */
		take = d->skip < n ? (size_t)d->skip : n;
		d->skip -= take;
		p += take;
		n -= take;
	}
	take = d->max - d->got < n ? d->max - d->got : n;
	if (take > 0 && buf_append(d->out, p, take, e) != 0)
		return e->code;
	d->got += take;
	return d->got >= d->max ? HTTP_STOP : 0;
}

int
os_file_read(struct backend *b, const char *id, const char *path, uint64_t offset, size_t max_bytes,
    struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET",
		.svc = OS_EXECD,
		.on_body = dl_body,
		.idle_ms = OS_STREAM_IDLE_MS };
	struct http_response rs;
	struct dl d = { .out = out, .max = max_bytes, .offset = offset };
	struct file_entry fe;
	const char *what = arena_printf(c->a, "reading %s", path);
	struct ep ep;
	int rc;

	*size = -1;
	if (max_bytes == 0) {
		if ((rc = os_file_stat(b, id, path, &fe, c, e)) != 0)
			return rc;
		*size = fe.size;
		return 0;
	}
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	r.url = os_execd_url(b, c, &ep, e, "/files/download?path=%s", qv(c, path));
	r.range = arena_printf(c->a, "bytes=%" PRIu64 "-%" PRIu64, offset,
	    offset + (uint64_t)max_bytes - 1);
	if (r.url == NULL)
		return e->code;
	if (r.range == NULL || what == NULL)
		return OOM(e);
	buf_init(&d.err, OS_ERR_BODY_MAX);
	d.rs = &rs;
	r.arg = &d;
	/* The body is capped by dl_body; let http not cap it lower. */
	r.body_max = (size_t)-1 / 2;
	r.deadline = call_deadline(c);
	rc = os_do(b, c, &r, what, &rs, e);
	if (rc == 0 && rs.status == 206) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
	} else if (rc == 0 && rs.status == 200) { /* the Range was ignored; dl_body skipped */
		*size = rs.content_length >= 0 ? rs.content_length : -1;
	} else if (rc == 0 && rs.status == 416) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
	} else if (rc == 0) {
		rc = rest_status_err(&os_peers[OS_EXECD], what, &rs, d.err.p, d.err.len, c->a, e);
		if (rc == ERR_NOTFOUND)
			rc = rest_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
		else if (strstr(e->msg, "is a directory") != NULL) {
			err_clear(e);
			rc = err_set(e, ERR_INVAL, "%s is a directory; list it with file_list",
			    path);
		}
	}
	http_response_fini(&rs);
	buf_fini(&d.err);
	if (rc == 0 && *size < 0) {
		if ((rc = os_file_stat(b, id, path, &fe, c, e)) == 0)
			*size = fe.size;
	}
	return rc;
}

int
os_file_list(struct backend *b, const char *id, const char *path, int depth, struct file_list *out,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	const struct json *it;
	const struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	r.body_max = 64u << 20;
	if ((r.url = os_execd_url(b, c, &ep, e, "/directories/list?path=%s&depth=%d", qv(c, path),
	         depth < 1 ? 1 : depth)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, arena_printf(c->a, "listing %s", path), &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
	if (rc != 0)
		return rc;
	if (j == NULL || j->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "listing %s: execd did not answer with a list", path);
	out->items = arena_zalloc(c->a,
	    (j->count < OS_FILE_LIST_MAX ? j->count : OS_FILE_LIST_MAX) * sizeof(*out->items) +
	        sizeof(*out->items));
	if (out->items == NULL)
		return OOM(e);
	for (it = j->head; it != NULL; it = it->next) {
		if (out->n == OS_FILE_LIST_MAX) {
			out->truncated = true;
			break;
		}
		entry_from_json(it, NULL, &out->items[out->n]);
		if (out->items[out->n].path != NULL)
			out->n++;
	}
	return 0;
}

int
os_file_mkdir(struct backend *b, const char *id, const char *path, bool *created, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_EXECD };
	struct file_entry fe;
	struct buf bf = { 0 };
	struct jsonw w;
	struct ep ep;
	int rc;

	*created = false;
	rc = os_file_stat(b, id, path, &fe, c, e);
	if (rc == 0 && fe.type == FILE_T_DIR)
		return 0;
	if (rc == 0)
		return err_set(e, ERR_EXISTS, "%s exists and is not a directory", path);
	if (rc != ERR_NOTFOUND)
		return rc;
	err_clear(e);
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_key(&w, path);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "mode", 755);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if ((r.body = os_jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	r.ep = &ep;
	if ((r.url = os_ep_url(b, c, &ep, "/directories", e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 0, arena_printf(c->a, "creating directory %s", path), NULL,
	         NULL, e)) != 0)
		return rc;
	*created = true;
	return 0;
}

int
os_file_move(struct backend *b, const char *id, const char *src, const char *dst, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_EXECD };
	struct buf bf = { 0 };
	struct jsonw w;
	struct ep ep;
	int rc, st = 0;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "src", src);
	jsonw_kstr(&w, "dest", dst);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	if ((r.body = os_jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	r.ep = &ep;
	if ((r.url = os_ep_url(b, c, &ep, "/files/mv", e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, arena_printf(c->a, "moving %s to %s", src, dst), NULL, &st, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e, arena_printf(c->a, "%s does not exist", src), NULL);
	if (rc != 0 && st == 500 && strstr(e->msg, "already exists") != NULL) {
		err_clear(e);
		return err_set(e, ERR_EXISTS,
		    "%s already exists (execd: destination path already "
		    "exists); remove it first or choose another destination",
		    dst);
	}
	return rc;
}

int
os_file_remove(struct backend *b, const char *id, const char *path, bool *removed, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_EXECD };
	struct file_entry fe;
	struct ep ep;
	int rc;

	*removed = false;
	rc = os_file_stat(b, id, path, &fe, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		return 0;
	}
	if (rc != 0)
		return rc;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	/* DELETE /files refuses directories; DELETE /directories is rm -rf (§3.5). */
	if ((r.url = os_execd_url(b, c, &ep, e, "%s?path=%s",
	         fe.type == FILE_T_DIR ? "/directories" : "/files", qv(c, path))) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 0, arena_printf(c->a, "removing %s", path), NULL, NULL, e)) !=
	    0)
		return rc;
	*removed = true;
	return 0;
}

int
os_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .body_max = 64u << 20 };
	const struct json *it, *j;
	struct search s;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	/* execd matches base names only (§3.5): ask it for the last segment; search.h
	 * matches the whole pattern against paths relative to `path`. */
	if ((r.url = os_execd_url(b, c, &ep, e, "/files/search?path=%s&pattern=%s", qv(c, path),
	         qv(c, search_leaf(pattern)))) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, arena_printf(c->a, "searching %s", path), &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
	if (rc != 0)
		return rc;
	if (j == NULL || j->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "searching %s: execd did not answer with a list",
		    path);
	if ((rc = search_begin(&s, path, pattern, SEARCH_BASENAMES, j->count, OS_SEARCH_MAX, out,
	         c->a, e)) != 0)
		return rc;
	for (it = j->head; it != NULL; it = it->next)
		if (!search_add(&s, json_get_str(it, "path")))
			break;
	return 0;
}
