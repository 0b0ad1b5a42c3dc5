/*
 * files.c -- file_read/write/edit/list/stat/mkdir/move/remove/search.
 *
 * file_read in text mode counts lines while it reads the file in FILE_CHUNK pieces, so a
 * large file never has to fit in memory: it skips `offset` lines (scanning at most
 * FILE_SCAN_MAX bytes), then returns up to `limit` lines and at most FILE_TEXT_MAX bytes,
 * cut at a line end where possible. Without an explicit encoding, images come back as
 * MCP image content and binary files (NUL bytes) as base64. file_edit reads the whole file
 * (up to FILE_EDIT_MAX), replaces, and writes it back with its permission bits.
 */
#include "tools/internal.h"
#include "util/b64.h"
#include "util/str.h"

#include <stdio.h>
#include <string.h>

#define FILE_CHUNK     (1024 * 1024)
#define FILE_TEXT_MAX  (1024 * 1024)
#define FILE_SCAN_MAX  (64 * 1024 * 1024)
#define FILE_B64_MAX   (2 * 1024 * 1024)
#define FILE_IMAGE_MAX (2 * 1024 * 1024)
#define FILE_EDIT_MAX  (16 * 1024 * 1024)
#define FILE_DEPTH_MAX 10

/* Helpers ----------------------------------------------------------------------- */

static int
arg_path(struct tool_ctx *ctx, const char *key, const char **path, struct err *e)
{
	if (tools_arg_str(ctx, key, path, e) != 0)
		return e->code;
	if (*path == NULL || **path == '\0')
		return err_set(e, ERR_INVAL, "argument '%s' is required: a path in the sandbox",
		    key);
	return 0;
}

static const char *
type_name(enum file_type t)
{
	switch (t) {
	case FILE_T_FILE:
		return "file";
	case FILE_T_DIR:
		return "dir";
	case FILE_T_SYMLINK:
		return "symlink";
	default:
		return "other";
	}
}

static void
write_entry(struct jsonw *w, const struct file_entry *f)
{
	char mode[16];

	snprintf(mode, sizeof(mode), "%04o", (unsigned)(f->mode & 07777));
	jsonw_kstr(w, "name", f->name != NULL ? f->name : "");
	jsonw_kstr(w, "path", f->path != NULL ? f->path : "");
	jsonw_kstr(w, "type", type_name(f->type));
	jsonw_kint(w, "size", f->size);
	jsonw_kstr(w, "mode", mode);
	tools_write_time(w, "modified_at", f->modified_at);
	if (f->link_target != NULL)
		jsonw_kstr(w, "link_target", f->link_target);
}

/* Reads [offset, offset+max) into out (appending), looping over short reads. */
static int
read_range(struct tool_ctx *ctx, const char *id, const char *path, uint64_t offset, size_t max,
    struct buf *out, int64_t *size, struct err *e)
{
	const struct backend_ops *ops = ctx->t->be.ops;
	size_t start = out->len, before;
	struct call c;

	*size = -1;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	while (out->len - start < max) {
		before = out->len;
		if (ops->file_read(ctx->t->be.b, id, path, offset + (out->len - start),
		        max - (out->len - start), out, size, &c, e) != 0)
			return e->code;
		if (out->len == before)
			break; /* end of file */
		if (*size >= 0 && offset + (out->len - start) >= (uint64_t)*size)
			break;
	}
	return 0;
}

/* Images are recognised by their signature bytes, not their name: a file called x.png
 * that holds text is read as text, and the MIME type we report is what the bytes are. */
static const char *
image_mime(const unsigned char *p, size_t n)
{
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return "image/webp";
	return NULL;
}

/* file_read ---------------------------------------------------------------------- */

struct rd {
	struct tool_ctx *ctx;
	const char *id, *path;
	int64_t offset, limit; /* limit < 0: not given */
	bool explicit_encoding;
};

static int
read_base64(struct rd *r, struct buf *first, int64_t size, const char *note, struct err *e)
{
	struct tool_ctx *ctx = r->ctx;
	int64_t limit = r->limit < 0 ? FILE_B64_MAX : r->limit;
	struct buf data;
	uint64_t end;
	char *b64;

	buf_init(&data, (size_t)limit + 1);
	if (first != NULL && r->offset == 0) {
		/* Reuse what was read to sniff the content. */
		buf_append(&data, first->p, first->len < (size_t)limit ? first->len : (size_t)limit,
		    NULL);
	}
	if (data.len < (size_t)limit &&
	    (size < 0 || (uint64_t)r->offset + data.len < (uint64_t)size) &&
	    read_range(ctx, r->id, r->path, (uint64_t)r->offset + data.len,
	        (size_t)limit - data.len, &data, &size, e) != 0) {
		buf_fini(&data);
		return e->code;
	}
	b64 = arena_alloc(ctx->a, b64_encoded_len(data.len) + 1);
	if (b64 == NULL) {
		buf_fini(&data);
		return err_set(e, ERR_TOOBIG, "out of request memory; read less with limit");
	}
	b64_encode((const unsigned char *)(data.p != NULL ? data.p : ""), data.len, b64);
	end = (uint64_t)r->offset + data.len;
	jsonw_kstr(ctx->out, "path", r->path);
	jsonw_kstr(ctx->out, "content", b64);
	jsonw_kstr(ctx->out, "encoding", "base64");
	jsonw_kbool(ctx->out, "truncated", size >= 0 && end < (uint64_t)size);
	if (size >= 0)
		jsonw_kint(ctx->out, "size", size);
	jsonw_kint(ctx->out, "offset", r->offset);
	jsonw_key(ctx->out, "bytes");
	jsonw_uint(ctx->out, data.len);
	if (size >= 0 && end < (uint64_t)size) {
		jsonw_key(ctx->out, "next_offset");
		jsonw_uint(ctx->out, end);
	}
	if (note != NULL)
		jsonw_kstr(ctx->out, "note", note);
	buf_fini(&data);
	return 0;
}

static int
read_image(struct rd *r, struct buf *first, int64_t size, const char *mime, struct err *e)
{
	struct tool_ctx *ctx = r->ctx;
	struct buf data;
	char *b64;

	if (size > FILE_IMAGE_MAX)
		return read_base64(r, first, size,
		    "the image is too large to show; these are its "
		    "first bytes as base64 (read more with offset/limit)",
		    e);
	buf_init(&data, FILE_IMAGE_MAX + 1);
	buf_append(&data, first->p, first->len, NULL);
	if ((size < 0 || data.len < (size_t)size) &&
	    read_range(ctx, r->id, r->path, data.len, FILE_IMAGE_MAX + 1 - data.len, &data, &size,
	        e) != 0) {
		buf_fini(&data);
		return e->code;
	}
	b64 = arena_alloc(ctx->a, b64_encoded_len(data.len) + 1);
	if (b64 == NULL) {
		buf_fini(&data);
		return err_set(e, ERR_TOOBIG, "out of request memory for the image");
	}
	b64_encode((const unsigned char *)data.p, data.len, b64);
	ctx->image_b64 = b64;
	ctx->image_mime = mime;
	jsonw_kstr(ctx->out, "path", r->path);
	jsonw_kstr(ctx->out, "content", b64);
	jsonw_kstr(ctx->out, "encoding", "base64");
	jsonw_kbool(ctx->out, "truncated", false);
	jsonw_kint(ctx->out, "size", (int64_t)data.len);
	jsonw_kstr(ctx->out, "mime_type", mime);
	/* The image is already in the result twice (image block, structuredContent); the
	 * text block says what it is instead of repeating the base64 a third time. */
	if (ctx->text != NULL)
		buf_printf(ctx->text, NULL, "%s (%s, %zu bytes) is shown as image content.",
		    r->path, mime, data.len);
	buf_fini(&data);
	return 0;
}

struct lines {
	struct buf content;
	int64_t line;   /* index of the line the scan is in */
	int64_t nlines; /* complete lines collected */
	bool done, capped;
};

/* Feeds one chunk to the line scanner; *used gets how far it got. */
static void
lines_feed(struct lines *l, const struct rd *r, const char *p, size_t n, size_t *used)
{
	const char *s = p, *nl;
	size_t seg;

	while (n > 0 && !l->done) {
		nl = memchr(s, '\n', n);
		seg = nl != NULL ? (size_t)(nl - s) + 1 : n;
		if (l->line < r->offset) {
			if (nl != NULL)
				l->line++;
		} else if (r->limit >= 0 && l->nlines >= r->limit) {
			l->done = true;
			break;
		} else if (l->content.len + seg > FILE_TEXT_MAX) {
			buf_append(&l->content, s, FILE_TEXT_MAX - l->content.len, NULL);
			l->done = l->capped = true;
			break;
		} else {
			buf_append(&l->content, s, seg, NULL);
			if (nl != NULL) {
				l->line++;
				l->nlines++;
			}
		}
		s += seg;
		n -= seg;
	}
	*used = (size_t)(s - p);
}

static int
read_text(struct rd *r, struct buf *chunk, int64_t size, struct err *e)
{
	struct tool_ctx *ctx = r->ctx;
	struct lines l;
	uint64_t pos = 0;
	size_t used = 0, len;
	bool more, valid;
	char last = '\n';
	int rc = 0;

	memset(&l, 0, sizeof(l));
	buf_init(&l.content, FILE_TEXT_MAX + 1);
	for (;;) {
		lines_feed(&l, r, chunk->p, chunk->len, &used);
		if (chunk->len > 0)
			last = chunk->p[chunk->len - 1];
		pos += chunk->len;
		if (l.done || chunk->len == 0 || (size >= 0 && pos >= (uint64_t)size))
			break;
		if (l.line < r->offset && pos >= FILE_SCAN_MAX) {
			rc = err_set(e, ERR_TOOBIG,
			    "line %lld of %s is beyond the first %d MiB; read "
			    "that part with encoding base64 and a byte offset",
			    (long long)r->offset, r->path, FILE_SCAN_MAX >> 20);
			goto out;
		}
		buf_reset(chunk);
		if ((rc = read_range(ctx, r->id, r->path, pos, FILE_CHUNK, chunk, &size, e)) != 0)
			goto out;
	}
	more = l.done && (used < chunk->len || size < 0 || pos < (uint64_t)size);
	len = l.content.len;
	if (l.capped) {
		/* Cut at the last line end; a single line over the cap is cut mid-line. */
		const char *nl = len ? memrchr(l.content.p, '\n', len) : NULL;

		len = nl != NULL ? (size_t)(nl - l.content.p) + 1
		                 : str_utf8_safe_len(l.content.p, len);
	} else if (!l.done && len > 0 && l.content.p[len - 1] != '\n') {
		l.nlines++; /* the last line of the file has no newline */
	}
	valid = str_utf8_valid(l.content.p != NULL ? l.content.p : "", len);
	jsonw_kstr(ctx->out, "path", r->path);
	jsonw_kstrn(ctx->out, "content", l.content.p != NULL ? l.content.p : "", len);
	jsonw_kstr(ctx->out, "encoding", "text");
	jsonw_kbool(ctx->out, "truncated", more);
	if (size >= 0)
		jsonw_kint(ctx->out, "size", size);
	jsonw_kint(ctx->out, "offset", r->offset);
	jsonw_kint(ctx->out, "lines", l.nlines);
	if (more)
		jsonw_kint(ctx->out, "next_offset", r->offset + l.nlines);
	_Static_assert(FILE_TEXT_MAX == 1024 * 1024, "the notes below name the cap");
	if (l.capped && l.nlines == 0)
		jsonw_kstr(ctx->out, "note",
		    "this line is longer than 1 MiB; read the rest with "
		    "encoding base64 and a byte offset");
	else if (l.capped)
		jsonw_kstr(ctx->out, "note",
		    "output stops at 1 MiB; continue with offset "
		    "next_offset");
	else if (!valid)
		jsonw_kstr(ctx->out, "note",
		    "the file is not valid UTF-8; invalid bytes are shown "
		    "as U+FFFD. Read it with encoding base64 for the exact bytes");
	else if (l.line < r->offset)
		jsonw_kstr(ctx->out, "note",
		    arena_printf(ctx->a, "the file has only %lld lines",
		        (long long)(l.line + (pos > 0 && last != '\n'))));
out:
	buf_fini(&l.content);
	return rc;
}

static int
file_read_run(struct tool_ctx *ctx, struct err *e)
{
	struct rd r;
	const char *enc, *mime;
	struct buf chunk;
	int64_t size;
	int rc;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	if (arg_path(ctx, "path", &r.path, e) != 0 ||
	    tools_arg_str(ctx, "encoding", &enc, e) != 0 ||
	    tools_arg_int(ctx, "offset", 0, 0, INT64_MAX, &r.offset, e) != 0 ||
	    tools_arg_int(ctx, "limit", -1, 0, INT64_MAX, &r.limit, e) != 0)
		return e->code;
	if (enc != NULL && strcmp(enc, "text") != 0 && strcmp(enc, "base64") != 0)
		return err_set(e, ERR_INVAL, "argument 'encoding' must be \"text\" or \"base64\"");
	if (enc != NULL && strcmp(enc, "base64") == 0 && r.limit > FILE_B64_MAX)
		return err_set(e, ERR_INVAL,
		    "limit for base64 is at most %d bytes; read large files "
		    "in ranges with offset",
		    FILE_B64_MAX);
	r.explicit_encoding = enc != NULL;
	if (tools_sandbox_id(ctx, true, &r.id, e) != 0)
		return e->code;
	if (enc != NULL && strcmp(enc, "base64") == 0)
		return read_base64(&r, NULL, -1, NULL, e);
	/* Text (asked for or default): the first chunk also tells images and binaries apart. */
	buf_init(&chunk, FILE_CHUNK + 1);
	if ((rc = read_range(ctx, r.id, r.path, 0, FILE_CHUNK, &chunk, &size, e)) != 0)
		goto out;
	if (!r.explicit_encoding) {
		mime = image_mime((const unsigned char *)chunk.p, chunk.len);
		if (mime != NULL && r.offset == 0 && r.limit < 0) {
			rc = read_image(&r, &chunk, size, mime, e);
			goto out;
		}
		if (chunk.len > 0 && memchr(chunk.p, '\0', chunk.len) != NULL) {
			/* Line numbers mean nothing in a binary file: start at byte 0. */
			r.offset = 0;
			r.limit = -1;
			rc = read_base64(&r, &chunk, size,
			    "the file is binary (it contains NUL bytes), "
			    "so it is returned as base64; use offset/limit in bytes for more",
			    e);
			goto out;
		}
	}
	rc = read_text(&r, &chunk, size, e);
out:
	buf_fini(&chunk);
	return rc;
}

/* file_write / file_edit ----------------------------------------------------------- */

/* "0755", "755", "0o755" or the integer 755 (read as octal digits) -> 0755. */
static int
parse_mode(const struct json *v, uint32_t *mode, struct err *e)
{
	const char *s;
	size_t len, i;
	uint32_t m = 0;

	*mode = FILE_MODE_DEFAULT;
	if (v == NULL)
		return 0;
	if (v->type != JSON_STRING && v->type != JSON_NUMBER)
		return err_set(e, ERR_INVAL,
		    "mode must be an octal string such as \"0644\" or "
		    "\"0755\"");
	s = v->s;
	len = v->len;
	if (len >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		s += 2;
		len -= 2;
	}
	if (len == 0 || len > 5)
		goto bad;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '7')
			goto bad;
		m = m * 8 + (uint32_t)(s[i] - '0');
	}
	if (m > 07777)
		goto bad;
	*mode = m;
	return 0;
bad:
	return err_set(e, ERR_INVAL,
	    "mode must be octal digits such as \"0644\" or \"0755\", "
	    "not '%.16s'",
	    v->s);
}

static int
file_write_run(struct tool_ctx *ctx, struct err *e)
{
	const struct json *content = tools_arg(ctx, "content");
	const char *path, *enc, *id;
	const void *data;
	size_t len;
	uint32_t mode;
	struct call c;

	if (arg_path(ctx, "path", &path, e) != 0 || tools_arg_str(ctx, "encoding", &enc, e) != 0 ||
	    parse_mode(tools_arg(ctx, "mode"), &mode, e) != 0)
		return e->code;
	if (content == NULL || content->type != JSON_STRING)
		return err_set(e, ERR_INVAL,
		    "argument 'content' is required: the file's text (or "
		    "base64 with encoding base64)");
	data = content->s;
	len = content->len;
	if (enc != NULL && strcmp(enc, "base64") == 0) {
		unsigned char *bin = arena_alloc(ctx->a, b64_decoded_max(len) + 1);
		ssize_t n;

		if (bin == NULL)
			return err_set(e, ERR_TOOBIG, "content is too large");
		n = b64_decode(content->s, len, bin);
		if (n < 0)
			return err_set(e, ERR_INVAL,
			    "content is not valid base64; send the text with "
			    "encoding text, or fix the base64");
		data = bin;
		len = (size_t)n;
	} else if (enc != NULL && strcmp(enc, "text") != 0) {
		return err_set(e, ERR_INVAL, "argument 'encoding' must be \"text\" or \"base64\"");
	}
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->file_write(ctx->t->be.b, id, path, data, len, mode, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "path", path);
	jsonw_key(ctx->out, "bytes_written");
	jsonw_uint(ctx->out, len);
	return 0;
}

/* Non-overlapping occurrences of needle in hay. */
static size_t
count_occurrences(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	const char *p = hay, *end = hay + hlen, *q;
	size_t n = 0;

	while (
	    (size_t)(end - p) >= nlen && (q = memmem(p, (size_t)(end - p), needle, nlen)) != NULL) {
		n++;
		p = q + nlen;
	}
	return n;
}

static int
file_edit_run(struct tool_ctx *ctx, struct err *e)
{
	const struct backend_ops *ops = ctx->t->be.ops;
	const struct json *old = tools_arg(ctx, "old_text"), *new = tools_arg(ctx, "new_text");
	const char *path, *id, *p, *q, *end;
	uint32_t mode = FILE_MODE_DEFAULT;
	struct file_entry st;
	bool all;
	struct buf data;
	size_t count, outlen, k;
	int64_t size;
	struct call c;
	char *res;
	int rc;

	if (arg_path(ctx, "path", &path, e) != 0 ||
	    tools_arg_bool(ctx, "replace_all", false, &all, e) != 0)
		return e->code;
	if (old == NULL || old->type != JSON_STRING || new == NULL || new->type != JSON_STRING)
		return err_set(e, ERR_INVAL, "arguments 'old_text' and 'new_text' are required");
	if (old->len == 0)
		return err_set(e, ERR_INVAL,
		    "old_text must not be empty; to create or overwrite a "
		    "file use file_write");
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	buf_init(&data, FILE_EDIT_MAX + 1);
	if ((rc = read_range(ctx, id, path, 0, FILE_EDIT_MAX + 1, &data, &size, e)) != 0)
		goto out;
	if (data.len > FILE_EDIT_MAX) {
		rc = err_set(e, ERR_TOOBIG,
		    "%s is larger than %d MiB, too large to edit this way; "
		    "use exec with sed or a script",
		    path, FILE_EDIT_MAX >> 20);
		goto out;
	}
	p = data.p != NULL ? data.p : "";
	count = count_occurrences(p, data.len, old->s, old->len);
	if (count == 0) {
		rc = err_set(e, ERR_NOTFOUND, "old_text was not found in %s", path);
		goto out;
	}
	if (count > 1 && !all) {
		rc = err_set(e, ERR_INVAL,
		    "old_text occurs %zu times in %s; add context or set "
		    "replace_all",
		    count, path);
		goto out;
	}
	outlen = data.len - count * old->len + count * new->len;
	if ((res = arena_alloc(ctx->a, outlen + 1)) == NULL) {
		rc = err_set(e, ERR_TOOBIG, "the edited file would be too large");
		goto out;
	}
	end = p + data.len;
	for (k = 0; (q = memmem(p, (size_t)(end - p), old->s, old->len)) != NULL;) {
		memcpy(res + k, p, (size_t)(q - p));
		k += (size_t)(q - p);
		memcpy(res + k, new->s, new->len);
		k += new->len;
		p = q + old->len;
	}
	memcpy(res + k, p, (size_t)(end - p));
	k += (size_t)(end - p);
	/* Keep the file's permission bits (file_write would apply the default). */
	memset(&st, 0, sizeof(st));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ops->file_stat != NULL && ops->file_stat(ctx->t->be.b, id, path, &st, &c, NULL) == 0)
		mode = st.mode & 07777;
	if ((rc = ops->file_write(ctx->t->be.b, id, path, res, k, mode, &c, e)) != 0)
		goto out;
	jsonw_kstr(ctx->out, "path", path);
	jsonw_key(ctx->out, "replacements");
	jsonw_uint(ctx->out, count);
out:
	buf_fini(&data);
	return rc;
}

/* The rest of the filesystem ------------------------------------------------------- */

static int
file_list_run(struct tool_ctx *ctx, struct err *e)
{
	struct file_list out;
	const char *path, *id;
	int64_t depth;
	struct call c;
	size_t i;

	if (arg_path(ctx, "path", &path, e) != 0 ||
	    tools_arg_int(ctx, "depth", 1, 1, FILE_DEPTH_MAX, &depth, e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&out, 0, sizeof(out));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->file_list(ctx->t->be.b, id, path, (int)depth, &out, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "path", path);
	jsonw_key(ctx->out, "entries");
	jsonw_arr_begin(ctx->out);
	for (i = 0; i < out.n; i++) {
		jsonw_obj_begin(ctx->out);
		write_entry(ctx->out, &out.items[i]);
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	jsonw_kbool(ctx->out, "truncated", out.truncated);
	return 0;
}

static int
file_stat_run(struct tool_ctx *ctx, struct err *e)
{
	struct file_entry st;
	const char *path, *id;
	struct call c;
	int rc;

	if (arg_path(ctx, "path", &path, e) != 0 || tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&st, 0, sizeof(st));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	rc = ctx->t->be.ops->file_stat(ctx->t->be.b, id, path, &st, &c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		jsonw_kbool(ctx->out, "exists", false);
		jsonw_kstr(ctx->out, "path", path);
		return 0;
	}
	if (rc != 0)
		return rc;
	jsonw_kbool(ctx->out, "exists", true);
	if (st.path == NULL)
		st.path = path;
	write_entry(ctx->out, &st);
	return 0;
}

static int
file_mkdir_run(struct tool_ctx *ctx, struct err *e)
{
	const char *path, *id;
	bool created = false;
	struct call c;

	if (arg_path(ctx, "path", &path, e) != 0 || tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->file_mkdir(ctx->t->be.b, id, path, &created, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "path", path);
	jsonw_kbool(ctx->out, "created", created);
	return 0;
}

static int
file_move_run(struct tool_ctx *ctx, struct err *e)
{
	const char *src, *dst, *id;
	struct call c;

	if (arg_path(ctx, "source", &src, e) != 0 || arg_path(ctx, "destination", &dst, e) != 0 ||
	    tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->file_move(ctx->t->be.b, id, src, dst, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "source", src);
	jsonw_kstr(ctx->out, "destination", dst);
	return 0;
}

static int
file_remove_run(struct tool_ctx *ctx, struct err *e)
{
	const char *path, *id;
	bool removed = false;
	struct call c;

	if (arg_path(ctx, "path", &path, e) != 0 || tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->file_remove(ctx->t->be.b, id, path, &removed, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "path", path);
	jsonw_kbool(ctx->out, "removed", removed);
	return 0;
}

static int
file_search_run(struct tool_ctx *ctx, struct err *e)
{
	struct file_search out;
	const char *path, *pattern, *id;
	struct call c;

	if (arg_path(ctx, "path", &path, e) != 0 || tools_arg_str(ctx, "pattern", &pattern, e) != 0)
		return e->code;
	if (pattern == NULL || *pattern == '\0')
		return err_set(e, ERR_INVAL,
		    "argument 'pattern' is required: a glob such as "
		    "\"**/*.py\"");
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&out, 0, sizeof(out));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->file_search(ctx->t->be.b, id, path, pattern, &out, &c, e) != 0)
		return e->code;
	tools_write_strs(ctx->out, "matches", out.matches, out.n);
	jsonw_kbool(ctx->out, "truncated", out.truncated);
	return 0;
}

/* Schemas ----------------------------------------------------------------------- */

#define PATH_PROP(desc) "\"path\":{\"type\":\"string\",\"description\":\"" desc "\"}"

static const char read_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"path\":{\"type\":\"string\"},"
    "\"encoding\":{\"type\":\"string\",\"enum\":[\"text\",\"base64\"]},"
    "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Lines to skip "
    "(base64: bytes).\"},"
    "\"limit\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Most lines "
    "(base64: bytes, up to 2 MiB).\"}},"
    "\"required\":[\"path\"],\"additionalProperties\":false}";

static const char read_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"content\":{\"type\":\"string\"},\"encoding\":{\"type\":\"string\"},"
    "\"truncated\":{\"type\":\"boolean\"},"
    "\"size\":{\"type\":\"integer\"},\"next_offset\":{\"type\":\"integer\"}},"
    "\"required\":[\"content\",\"encoding\",\"truncated\"]}";

static const char write_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"path\":{\"type\":\"string\"},"
    "\"content\":{\"type\":\"string\"},"
    "\"encoding\":{\"type\":\"string\",\"enum\":[\"text\",\"base64\"]},"
    "\"mode\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}},"
    "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}";

static const char write_out[] =
    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
    "\"bytes_written\":{\"type\":\"integer\"}},"
    "\"required\":[\"path\",\"bytes_written\"]}";

static const char edit_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"path\":{\"type\":\"string\"},"
    "\"old_text\":{\"type\":\"string\"},"
    "\"new_text\":{\"type\":\"string\"},"
    "\"replace_all\":{\"type\":\"boolean\"}},"
    "\"required\":[\"path\",\"old_text\",\"new_text\"],\"additionalProperties\":false}";

static const char edit_out[] =
    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
    "\"replacements\":{\"type\":\"integer\"}},"
    "\"required\":[\"path\",\"replacements\"]}";

#define ENTRY_PROPS                                                       \
	"\"name\":{\"type\":\"string\"},\"path\":{\"type\":\"string\"},"  \
	"\"type\":{\"type\":\"string\"},"                                 \
	"\"size\":{\"type\":\"integer\"},\"mode\":{\"type\":\"string\"}," \
	"\"modified_at\":{" TOOLS_OR_NULL("string") "}"

static const char list_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP "," PATH_PROP(
        ". is the workspace.") ","
                               "\"depth\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,\"description\":"
                               "\"Default 1.\"}},"
                               "\"required\":[\"path\"],\"additionalProperties\":false}";

static const char list_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"entries\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{" ENTRY_PROPS
    "}}},"
    "\"truncated\":{\"type\":\"boolean\"}},"
    "\"required\":[\"entries\"]}";

#define PATH_ONLY_SCHEMA                                                  \
	"{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP "," \
	"\"path\":{\"type\":\"string\"}},"                                \
	"\"required\":[\"path\"],\"additionalProperties\":false}"

static const char stat_out[] =
    "{\"type\":\"object\",\"properties\":{\"exists\":{\"type\":\"boolean\"}," ENTRY_PROPS "},"
    "\"required\":[\"exists\"]}";

static const char mkdir_out[] =
    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
    "\"created\":{\"type\":\"boolean\"}},"
    "\"required\":[\"path\",\"created\"]}";

static const char move_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"source\":{\"type\":\"string\"},\"destination\":{\"type\":\"string\"}},"
    "\"required\":[\"source\",\"destination\"],\"additionalProperties\":false}";

static const char move_out[] =
    "{\"type\":\"object\",\"properties\":{\"source\":{\"type\":\"string\"},"
    "\"destination\":{\"type\":\"string\"}},\"required\":[\"source\",\"destination\"]}";

static const char remove_out[] =
    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
    "\"removed\":{\"type\":\"boolean\"}},"
    "\"required\":[\"path\",\"removed\"]}";

static const char search_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"path\":{\"type\":\"string\"},"
    "\"pattern\":{\"type\":\"string\"}},"
    "\"required\":[\"path\",\"pattern\"],\"additionalProperties\":false}";

static const char search_out[] = "{\"type\":\"object\",\"properties\":{"
                                 "\"matches\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
                                 "\"truncated\":{\"type\":\"boolean\"}},"
                                 "\"required\":[\"matches\"]}";

/* Table ------------------------------------------------------------------------- */

TOOLS_NEEDS(has_read, file_read)
TOOLS_NEEDS(has_write, file_write)
TOOLS_NEEDS(has_list, file_list)
TOOLS_NEEDS(has_stat, file_stat)
TOOLS_NEEDS(has_mkdir, file_mkdir)
TOOLS_NEEDS(has_move, file_move)
TOOLS_NEEDS(has_remove, file_remove)
TOOLS_NEEDS(has_search, file_search)

static bool
has_edit(const struct tools *t)
{
	return has_read(t) && has_write(t);
}

const struct tool_def tools_files_defs[] = {
	{ "file_read", "Read file",
	    "Read a file: text by lines (1 MiB a call at most; continue at next_offset) or "
	    "base64 byte ranges. Images come back as images, binary files as base64.",
	    read_in, read_out, TOOL_READONLY | TOOL_IDEMPOTENT, true, has_read, file_read_run,
	    NULL },
	{ "file_write", "Write file",
	    "Create or overwrite a file (text, or base64 for binary) and its parent "
	    "directories; mode like \"0755\".",
	    write_in, write_out, TOOL_DESTRUCTIVE | TOOL_IDEMPOTENT, true, has_write,
	    file_write_run, "content" },
	{ "file_edit", "Edit file",
	    "Replace exact old_text (whitespace included) with new_text in a file; it must "
	    "occur once (add nearby lines) unless replace_all.",
	    edit_in, edit_out, TOOL_DESTRUCTIVE, true, has_edit, file_edit_run,
	    "old_text new_text" },
	{ "file_list", "List directory",
	    "List a directory's entries (type, size, mode, mtime), depth levels deep.", list_in,
	    list_out, TOOL_READONLY | TOOL_IDEMPOTENT, true, has_list, file_list_run, NULL },
	{ "file_stat", "File info",
	    "Tell whether a path exists, and its type, size, mode and modified time.",
	    PATH_ONLY_SCHEMA, stat_out, TOOL_READONLY | TOOL_IDEMPOTENT, false, has_stat,
	    file_stat_run, NULL },
	{ "file_mkdir", "Make directory",
	    "Create a directory and missing parents; fine if it exists.", PATH_ONLY_SCHEMA,
	    mkdir_out, TOOL_IDEMPOTENT, false, has_mkdir, file_mkdir_run, NULL },
	{ "file_move", "Move file", "Move or rename a file or directory.", move_in, move_out,
	    TOOL_DESTRUCTIVE, false, has_move, file_move_run, NULL },
	{ "file_remove", "Remove file",
	    "Delete a file, or a directory and everything in it; fine if it does not exist.",
	    PATH_ONLY_SCHEMA, remove_out, TOOL_DESTRUCTIVE | TOOL_IDEMPOTENT, false, has_remove,
	    file_remove_run, NULL },
	{ "file_search", "Find files",
	    "Find files under path matching a glob such as **/*.py (** crosses directories).",
	    search_in, search_out, TOOL_READONLY | TOOL_IDEMPOTENT, true, has_search,
	    file_search_run, NULL },
};
const size_t tools_files_ndefs = sizeof(tools_files_defs) / sizeof(tools_files_defs[0]);
