/*
 * rest.h -- JSON over HTTP for the remote backends: one way to send a request under a
 * call's deadline and cancel token, one rule for which requests may be retried, one
 * sentence per HTTP status, and one reading of a platform's answer.
 *
 * Retry: net/http retries a request once on a new connection when a pooled connection
 * failed before any byte of the answer arrived, if the request is idempotent. Here that
 * is every GET, HEAD, OPTIONS, PUT and DELETE (RFC 9110 §9.2.2), and any other method
 * the request marks `idempotent` (a POST the platform treats as a replace). POST and
 * PATCH are not retried by default: the first attempt may have been carried out.
 *
 * Status sentences (rest_status_err), one phrasing for every platform:
 *   "<what>: <peer> <what went wrong> (<status>: <detail>)[; <what to do>]"
 *   400, 422  ERR_INVAL        rejected the request
 *   401       ERR_BACKEND      rejected the credentials; the peer's auth_hint
 *   403       ERR_BACKEND      does not allow it; check the key's permissions and quotas
 *   404       ERR_NOTFOUND     "<what>: not found (404: ...)"; rest_notfound() rewrites
 *                              it as "<subject> (404: ...); <hint>"
 *   405       ERR_UNSUPPORTED  does not allow this method
 *   409       ERR_BACKEND      refused it in the current state
 *   413       ERR_TOOBIG       refused it as too large
 *   429       ERR_BACKEND      is limiting the request rate; wait and try again
 *   501       ERR_UNSUPPORTED  does not implement it
 *   other 5xx ERR_BACKEND      failed; try again
 *   other     ERR_HTTP         answered with an unexpected status
 * The detail is the platform's own words (rest_detail): "code: message" or "message" of
 * a JSON body, its "error" (a string, or an object's "message"), or "detail" (FastAPI's
 * string or its first validation error "loc.path: msg"); else the first line of a text
 * body; else the reason phrase; else "no details". Sentences pass through log_scrub().
 *
 * Answers (rest_json): a status other than want_status (0: any 2xx) becomes the status
 * sentence; a body that is not JSON becomes ERR_PROTO "<what>: <peer> sent invalid
 * JSON: ..." (ERR_TOOBIG when the arena is full); an empty body is no JSON (j NULL).
 * Transport failures keep net/http's code and sentence, after "<what>: ".
 *
 * Owns:    nothing. Response headers and the parsed JSON live in the call's arena; the
 *          body of rest_send's response is the caller's (http_response_fini).
 * Borrows: the request, its headers and the peer for the duration of one call.
 * Errors:  as above; every sentence starts with the request's `what`.
 * Waits:   until the request's deadline: r->deadline when set, else the call's deadline
 *          capped by r->timeout_ms; a cleanup request ignores the call (token and
 *          deadline) and gets r->timeout_ms alone, so it runs after a cancel.
 * Threads: any; the http_client is shared and locked inside net/http.
 */
#ifndef BACKENDS_COMMON_REST_H
#define BACKENDS_COMMON_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "json/json.h"
#include "net/http.h"
#include "util/arena.h"
#include "util/err.h"

#define REST_BODY_MAX (8u << 20) /* a JSON answer, unless the request says otherwise */

/* Who answers, for the sentences; one per service, filled once by the backend. */
struct rest_peer {
	const char *name;      /* the subject: "the OpenSandbox server", "the E2B API" */
	const char *auth_hint; /* what to do on 401 ("set OPEN_SANDBOX_API_KEY or
				 * --api-key"), or NULL */
};

struct rest_req {
	const char *method;                /* "GET", "POST", ... */
	const char *url;                   /* absolute, already encoded */
	const struct http_header *headers; /* the backend's: credentials, extra headers;
						 * an Accept here replaces ours */
	size_t nheaders;
	const void *body; /* with len; NULL: no body */
	size_t len;
	const char *ctype;         /* the body's Content-Type; NULL: application/json */
	http_producer_fn producer; /* a chunked body instead of body (never retried) */
	void *producer_arg;
	http_body_fn on_body; /* rest_send only: the body in pieces */
	void *arg;
	bool idempotent;    /* may be retried although the method is not */
	bool cleanup;       /* runs after a cancel: see Waits */
	int64_t deadline;   /* absolute monotonic ms; 0: from the call (see Waits) */
	int64_t timeout_ms; /* cap of this request under the call's deadline; <= 0: none */
	int idle_ms;        /* net/http idle timeout; 0: the client's */
	size_t body_max;    /* cap on the answer in memory; 0: REST_BODY_MAX */
	int want_status;    /* rest_json: the one success status; 0: any 2xx */
	const struct rest_peer *peer;
	const char *what; /* "creating a sandbox": opens every sentence */
};

/* The parsed answer of rest_json. */
struct rest_answer {
	int status;                        /* the HTTP status; 0 when no answer arrived */
	const struct json *j;              /* the body (a success); NULL when empty */
	const struct http_header *headers; /* in the arena */
	size_t nheaders;
};

/* The retry rule: true for GET, HEAD, OPTIONS, PUT and DELETE. */
bool rest_idempotent(const char *method);

/* The deadline a request gets (see Waits). */
int64_t rest_deadline(const struct rest_req *r, const struct call *c);

/* Fills the net/http request for r: its headers plus Accept: application/json (unless
 * r has one) and Content-Type for a body, in c->a; the deadline, the token and the
 * retry rule. 0 or ERR_TOOBIG. */
int rest_prepare(const struct rest_req *r, const struct call *c, struct http_request *rq,
    struct err *e);

/* Sends r and reads the answer into *rs (call http_response_fini even on error), whatever
 * its status. Transport errors get "<what>: " in front. */
int rest_send(struct http_client *http, const struct rest_req *r, const struct call *c,
    struct http_response *rs, struct err *e);

/* Sends r and reads a JSON answer into *out (see Answers). out->status is set whenever an
 * answer arrived, also on error, so callers can tell a 409 from a 502. */
int rest_json(struct http_client *http, const struct rest_req *r, const struct call *c,
    struct rest_answer *out, struct err *e);

/* First header of the answer named `name` (case-insensitive), or NULL. */
const char *rest_header(const struct rest_answer *ans, const char *name);

/* The platform's own words from an error body (see Status sentences); never NULL. */
const char *rest_detail(const struct http_response *rs, const char *body, size_t len,
    struct arena *a);

/* One sentence for a status that is not a success, from body[0..len) (which may have been
 * read elsewhere, e.g. by an on_body callback); returns the code. */
int rest_status_err(const struct rest_peer *peer, const char *what, const struct http_response *rs,
    const char *body, size_t len, struct arena *a, struct err *e);

/* Rewrites a 404 sentence as "<subject> (404: ...)[; <hint>]" and returns ERR_NOTFOUND
 * (subject NULL: "not found"). */
int rest_notfound(struct err *e, const char *subject, const char *hint);

#endif
