/* multipart.c -- multipart/form-data bodies (contract in multipart.h). */
#include "net/multipart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int
http_multipart_begin(struct http_multipart *m, struct buf *out, struct err *e)
{
	unsigned char rnd[16];
	size_t got = 0, i;
	ssize_t r;

	memset(m, 0, sizeof(*m));
	m->out = out;
	while (got < sizeof(rnd)) {
		r = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return err_set(e, ERR_IO, "multipart: no random bytes for the boundary: %s",
			    strerror(errno));
		got += (size_t)r;
	}
	memcpy(m->boundary, "sandbox-mcp-", 12);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(m->boundary + 12 + 2 * i, 3, "%02x", rnd[i]);
	snprintf(m->content_type, sizeof(m->content_type), "multipart/form-data; boundary=%s",
	    m->boundary);
	return 0;
}

/* A name or filename in quotes, with '"', CR and LF percent-encoded (WHATWG HTML). */
static int
http_multipart_quoted(struct buf *b, const char *s, struct err *e)
{
	int rc = buf_putc(b, '"', e);

	for (; rc == 0 && *s; s++) {
		if (*s == '"')
			rc = buf_puts(b, "%22", e);
		else if (*s == '\r')
			rc = buf_puts(b, "%0D", e);
		else if (*s == '\n')
			rc = buf_puts(b, "%0A", e);
		else
			rc = buf_putc(b, *s, e);
	}
	return rc != 0 ? rc : buf_putc(b, '"', e);
}

int
http_multipart_part_head(struct http_multipart *m, const char *name, const char *filename,
    const char *content_type, struct err *e)
{
	struct buf *b = m->out;
	int rc;

	rc = buf_printf(b, e,
	    "%s--%s\r\nContent-Disposition: form-data; name=", m->nparts > 0 ? "\r\n" : "",
	    m->boundary);
	if (rc == 0)
		rc = http_multipart_quoted(b, name, e);
	if (rc == 0 && filename != NULL) {
		rc = buf_puts(b, "; filename=", e);
		if (rc == 0)
			rc = http_multipart_quoted(b, filename, e);
	}
	if (rc == 0 && (content_type != NULL || filename != NULL))
		rc = buf_printf(b, e, "\r\nContent-Type: %s",
		    content_type ? content_type : "application/octet-stream");
	if (rc == 0)
		rc = buf_puts(b, "\r\n\r\n", e);
	if (rc == 0)
		m->nparts++;
	return rc;
}

int
http_multipart_part(struct http_multipart *m, const char *name, const char *filename,
    const char *content_type, const void *data, size_t len, struct err *e)
{
	int rc = http_multipart_part_head(m, name, filename, content_type, e);

	if (rc == 0 && len > 0)
		rc = buf_append(m->out, data, len, e);
	return rc;
}

int
http_multipart_end(struct http_multipart *m, struct err *e)
{
	return buf_printf(m->out, e, "%s--%s--\r\n", m->nparts > 0 ? "\r\n" : "", m->boundary);
}
