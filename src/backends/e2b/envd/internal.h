/*
 * internal.h -- the envd client's private contracts; only src/backends/e2b/envd/ includes
 * it (envd.h is what the e2b backend sees). Its files, bottom-up:
 *   rpc.c      protobuf into a buf, the request headers, failures as sentences (envd's
 *              own; the core's rest_detail() reads an HTTP error body), and the
 *              Connect-RPC unary and server-streaming calls
 *   process.c  the process service: its messages (encoders, decoders) and calls, and
 *              envd_run / envd_exit_status
 *   fs.c       the filesystem service: its messages and calls
 *   http.c     envd's HTTP endpoints: GET and POST /files, GET /metrics (the last through
 *              the core's rest_send(), bad JSON ERR_PROTO as rest.h's rule says)
 *   procs.c    the background-process table (a reader thread per process; it sleeps
 *              between re-attaches with the core's wait_sleep_until())
 *
 * Owns:    nothing; the state is envd.h's struct envd_procs (procs.c).
 * Borrows: the target and the call, for the duration of a call, as envd.h says.
 * Errors:  envd_rpc_*() and envd_http_error() return 0 or ERR_* with one sentence that
 *          names the sandbox and what was being done (`what`, e.g. "listing /tmp").
 * Threads: no state: every function may run on any thread.
 */
#ifndef BACKENDS_E2B_ENVD_INTERNAL_H
#define BACKENDS_E2B_ENVD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "backends/e2b/envd/envd.h"

#define HDRS_MAX 48

/* Protobuf plumbing (rpc.c) ----------------------------------------------------------------- */

/* Encodes msg into out (appending); fails only on a full buf or a callback error. */
int envd_pb_to_buf(struct buf *out, const pb_msgdesc_t *fields, const void *msg, struct err *e);
/* Encode callback of a string field whose arg is a NUL-terminated string. */
bool envd_pb_enc_cstr(pb_ostream_t *s, const pb_field_t *f, void *const *arg);
/* Copies src into a fixed-size message field; ERR_INVAL naming `what` when it is longer. */
int envd_copy_bounded(char *dst, size_t cap, const char *src, const char *what, struct err *e);

/* Requests (rpc.c) -------------------------------------------------------------------------- */

struct hdrs {
	struct http_header h[HDRS_MAX];
	size_t n;
};

/* Adds a header while there is room; NULL names or values are left out. */
void envd_hdr_add(struct hdrs *h, const char *name, const char *value);
/* The headers of every envd request: Basic user, X-Access-Token, e2b-sandbox-id and
 * -port (header-mode routing) and the configured extra headers. */
void envd_common_headers(const struct envd_target *t, struct hdrs *h, struct arena *a);
/* The call's deadline, bounded by the target's request timeout. */
int64_t envd_unary_deadline(const struct envd_target *t, const struct call *c);
/* The sandbox id for messages ("(default)" when the target has none). */
const char *envd_sbx(const struct envd_target *t);
/* base_url + path, in the arena; NULL with *e set on a bad URL. */
char *envd_url(const struct envd_target *t, const char *path, struct arena *a, struct err *e);
/* A non-2xx /files or /metrics response as one sentence: envd's own for 401, 404 (an
 * older envd), 502-504 (a paused sandbox) and 507 (a full disk), else "failed with HTTP
 * N"; the detail is rest_detail()'s reading of body[0..len) (envd's {"code","message"}
 * JSON or a gateway's text). */
int envd_http_error(const struct envd_target *t, const char *what, const struct http_response *rs,
    const char *body, size_t len, struct arena *a, struct err *e);

/* Unary call; the response message goes to *resp (caller buf_fini). */
int envd_rpc_unary(const struct envd_target *t, const char *rpc, const char *what,
    const struct buf *req, bool idempotent, struct buf *resp, struct call *c, struct err *e);
/* Unary call whose response is not needed; req is released (buf_fini) either way. */
int envd_rpc_simple(const struct envd_target *t, const char *rpc, const char *what, struct buf *req,
    bool idempotent, struct call *c, struct err *e);
/* Server-streaming call until `deadline`: each message is decoded as a process event for
 * fn (envd_pb_event). A broken tail after the end event is not an error. */
int envd_rpc_stream(const struct envd_target *t, const char *rpc, const char *what,
    const struct buf *req, int64_t deadline, envd_event_fn fn, void *arg, struct call *c,
    struct err *e);

#endif
