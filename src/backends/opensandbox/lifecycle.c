/*
 * lifecycle.c -- the sandbox ops over the lifecycle REST API (§2): create (and wait until
 * the sandbox runs and its execd answers), list, info, kill, pause, resume, renew and
 * port URLs; metrics come from execd.
 */
#include "backends/opensandbox/internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backends/common/time.h"
#include "backends/common/wait.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

#define OS_DEFAULT_IMAGE     "python:3.11"
#define OS_DEFAULT_TIMEOUT_S 600
#define OS_MIN_TIMEOUT_S     60 /* the server's lower bound (422 below it) */
#define OS_STATE_POLL_MS     500
#define OS_PING_POLL_MS      200
#define OS_PING_WAIT_MS      30000 /* SDKs wait 30 s for execd */
#define OS_KILL_WAIT_MS      3000  /* how long kill waits to see the sandbox gone */
#define OS_LIST_PAGE_DEFAULT 20
#define OS_LIST_PAGE_MAX     200

static const char *
lower_dup(struct call *c, const char *s)
{
	char *r = arena_strdup(c->a, s);

	for (char *p = r; p != NULL && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

/* A Sandbox or CreateSandboxResponse object (§2.2) into sb_info. */
static int
sb_from_json(struct call *c, const struct json *j, struct sb_info *out, struct err *e)
{
	const struct json *st = json_get(j, "status"), *md = json_get(j, "metadata"), *m;
	const char *state = st != NULL ? json_get_str(st, "state") : NULL;
	const char *reason, *msg;
	struct kv *kv;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	out->id = json_get_str(j, "id");
	if (out->id == NULL)
		return err_set(e, ERR_PROTO, "OpenSandbox sent a sandbox without an id");
	out->state = lower_dup(c, state != NULL ? state : "unknown");
	if (json_get(j, "image") != NULL)
		out->template_name = json_get_str(json_get(j, "image"), "uri");
	if (out->template_name == NULL)
		out->template_name = json_get_str(j, "snapshotId");
	out->created_at = btime_json(j, "createdAt");
	out->expires_at = btime_json(j, "expiresAt");
	if (md != NULL && md->type == JSON_OBJECT && md->count > 0) {
		kv = arena_alloc(c->a, md->count * sizeof(*kv));
		if (kv == NULL)
			return OOM(e);
		for (m = md->head; m != NULL; m = m->next)
			if (m->type == JSON_STRING)
				kv[n++] = (struct kv){ m->key, m->s };
		out->metadata = kv;
		out->nmetadata = n;
	}
	if (state != NULL && strcmp(state, "Running") != 0 && st != NULL) {
		reason = json_get_str(st, "reason");
		msg = json_get_str(st, "message");
		if (reason != NULL || msg != NULL)
			out->note = arena_printf(c->a, "%s%s%s", reason != NULL ? reason : "",
			    reason != NULL && msg != NULL ? ": " : "", msg != NULL ? msg : "");
	}
	return 0;
}

static int
os_get(struct backend *b, struct call *c, const char *id, const struct json **j, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_LC };
	const char *what = arena_printf(c->a, "getting sandbox %s", id);
	int rc;

	r.url = os_lc_url(b, c, "/sandboxes/%s", seg(c, id));
	if (r.url == NULL || what == NULL)
		return OOM(e);
	rc = os_json(b, c, &r, 200, what, j, NULL, e);
	if (rc == 0 && *j == NULL)
		rc = err_set(e, ERR_PROTO, "%s: the answer is empty", what);
	if (rc == ERR_NOTFOUND)
		rc = rest_notfound(e, arena_printf(c->a, "sandbox %s does not exist", id),
		    "list sandboxes with sandbox_list");
	return rc;
}

static const char *
sandbox_state(const struct json *j)
{
	const char *s = json_get_str(json_get(j, "status"), "state");

	return s != NULL ? s : "Unknown";
}

struct state_wait {
	struct backend *b;
	struct call *c;
	const char *id, *want;
	const struct json *j; /* the last answer */
};

/* One GET of the state for wait_poll. */
static int
state_probe(void *arg, const char **what, struct err *e)
{
	struct state_wait *w = arg;
	const char *s;
	int rc;

	if ((rc = os_get(w->b, w->c, w->id, &w->j, e)) != 0)
		return rc;
	s = sandbox_state(w->j);
	if (strcmp(s, w->want) == 0)
		return 0;
	if (strcmp(s, "Failed") == 0 || strcmp(s, "Terminated") == 0) {
		const struct json *st = json_get(w->j, "status");
		const char *reason = json_get_str(st, "reason"), *msg = json_get_str(st, "message");

		return err_set(e, ERR_BACKEND, "sandbox %s is %s instead of %s (%s%s%s)", w->id, s,
		    w->want, reason != NULL ? reason : "no reason given", msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	}
	*what = arena_printf(w->c->a, "waiting for sandbox %s to become %s (it is %s)", w->id,
	    w->want, s);
	return WAIT_MORE;
}

/* Polls GET until the state is `want`; fails on a terminal state. */
static int
os_wait_state(struct backend *b, struct call *c, const char *id, const char *want,
    const struct json **last, struct err *e)
{
	struct state_wait w = { .b = b, .c = c, .id = id, .want = want };
	struct wait_poll p = { .first_ms = 100, .max_ms = OS_STATE_POLL_MS };
	int rc;

	p.what = arena_printf(c->a, "waiting for sandbox %s to become %s", id, want);
	rc = wait_poll(c, &p, state_probe, &w, e);
	if (last != NULL)
		*last = w.j;
	return rc;
}

struct ping_wait {
	struct backend *b;
	struct call *c;
	const char *id;
	struct os_rq r;
	struct err last; /* the last ping's error */
};

/* One GET /ping for wait_poll: done at 200; a 401 or a cancel ends the wait. */
static int
ping_probe(void *arg, const char **what, struct err *e)
{
	struct ping_wait *w = arg;
	int rc, st = 0;

	err_clear(&w->last);
	rc = os_json(w->b, w->c, &w->r, 200, "pinging execd", NULL, &st, &w->last);
	if (rc == 0)
		return 0;
	if (rc == ERR_CANCELLED || cancel_fired(w->c->cancel))
		return err_set(e, ERR_CANCELLED,
		    "waiting for execd in sandbox %s was "
		    "cancelled",
		    w->id);
	if (st == 401)
		return err_set(e, w->last.code, "%s", w->last.msg);
	return WAIT_MORE;
}

/* Polls execd's GET /ping until 200 (§3.1), at most OS_PING_WAIT_MS. */
static int
os_wait_execd(struct backend *b, struct call *c, const char *id, struct err *e)
{
	struct ping_wait w = { .b = b,
		.c = c,
		.id = id,
		.r = { .method = "GET", .svc = OS_EXECD, .timeout_ms = 5000 } };
	struct wait_poll p = { .first_ms = OS_PING_POLL_MS,
		.max_ms = OS_PING_POLL_MS,
		.deadline = deadline_in_ms(OS_PING_WAIT_MS) };
	struct ep ep;
	int rc;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	w.r.ep = &ep;
	if ((w.r.url = os_ep_url(b, c, &ep, "/ping", e)) == NULL)
		return e->code;
	p.what = arena_printf(c->a, "waiting for execd in sandbox %s", id);
	rc = wait_poll(c, &p, ping_probe, &w, e);
	if (rc == ERR_TIMEOUT) {
		err_clear(e);
		err_set(e, ERR_TIMEOUT,
		    "execd in sandbox %s did not answer /ping within %d s "
		    "(last error: %s)",
		    id, OS_PING_WAIT_MS / 1000, w.last.msg);
	}
	return rc;
}

/* DELETE /sandboxes/{id}, not cancellable (it cleans up after failures and cancels). */
static int
os_delete(struct backend *b, struct call *c, const char *id, bool cleanup, int *status,
    struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_LC, .cleanup = cleanup };
	const char *what = arena_printf(c->a, "deleting sandbox %s", id);

	r.url = os_lc_url(b, c, "/sandboxes/%s", seg(c, id));
	if (r.url == NULL || what == NULL)
		return OOM(e);
	os_ep_forget(b, id, 0);
	return os_json(b, c, &r, 0, what, NULL, status, e);
}

/* §0.11: Kubernetes label rules, checked before anything is sent. */
static bool
label_word(const char *s, size_t n, bool lower_dns)
{
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (lower_dns ? !(islower(ch) || isdigit(ch) || ch == '-' || ch == '.')
		              : !(isalnum(ch) || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static int
check_labels(const struct kv *kv, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value, *slash = strrchr(k, '/');
		const char *name = slash != NULL ? slash + 1 : k;

		if (str_has_prefix(k, "opensandbox.io/"))
			return err_set(e, ERR_INVAL,
			    "metadata key '%s' uses the reserved prefix "
			    "opensandbox.io/",
			    k);
		if ((slash != NULL &&
		        (slash - k > 253 || !label_word(k, (size_t)(slash - k), true))) ||
		    strlen(name) > 63 || !label_word(name, strlen(name), false))
			return err_set(e, ERR_INVAL,
			    "metadata key '%s' is not a valid label name: "
			    "use letters, digits, '-', '_' and '.', start and end with a letter or "
			    "digit, at most 63 characters (OpenSandbox stores metadata as "
			    "Kubernetes labels)",
			    k);
		if (strlen(v) > 63 || !label_word(v, strlen(v), false))
			return err_set(e, ERR_INVAL,
			    "metadata value '%.63s' of key '%s' is not a "
			    "valid label value: 1-63 letters, digits, '-', '_' or '.', starting and "
			    "ending with a letter or digit; put free text elsewhere",
			    v, k);
	}
	return 0;
}

static void
write_entrypoint(struct jsonw *w, const char *ep)
{
	const char *p = ep;

	jsonw_key(w, "entrypoint");
	jsonw_arr_begin(w);
	if (ep == NULL || *ep == '\0') {
		jsonw_str(w, "tail");
		jsonw_str(w, "-f");
		jsonw_str(w, "/dev/null");
	} else if (strpbrk(ep, "'\"$|&;<>()`*?~\\\n{}[]=#") != NULL) {
		/* Shell syntax: let a shell read it. */
		jsonw_str(w, "/bin/sh");
		jsonw_str(w, "-c");
		jsonw_str(w, ep);
	} else {
		while (*p) {
			size_t n;

			while (*p == ' ' || *p == '\t')
				p++;
			n = strcspn(p, " \t");
			if (n > 0)
				jsonw_strn(w, p, n);
			p += n;
		}
	}
	jsonw_arr_end(w);
}

static const char *
create_body(const struct sb_create *req, struct call *c, size_t *len, struct err *e)
{
	struct buf bf = { 0 };
	struct jsonw w;
	bool own_tag = false;

	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "image");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "uri",
	    req->template_name != NULL && *req->template_name ? req->template_name
	                                                      : OS_DEFAULT_IMAGE);
	jsonw_obj_end(&w);
	write_entrypoint(&w, req->entrypoint);
	jsonw_key(&w, "resourceLimits");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "cpu", req->cpu != NULL ? req->cpu : "1");
	jsonw_kstr(&w, "memory", req->memory != NULL ? req->memory : "2Gi");
	jsonw_obj_end(&w);
	jsonw_kint(&w, "timeout", req->timeout_s > 0 ? req->timeout_s : OS_DEFAULT_TIMEOUT_S);
	jsonw_key(&w, "env");
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < req->nenv; i++)
		jsonw_kstr(&w, req->env[i].key, req->env[i].value);
	jsonw_obj_end(&w);
	jsonw_key(&w, "metadata");
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < req->nmetadata; i++) {
		jsonw_kstr(&w, req->metadata[i].key, req->metadata[i].value);
		own_tag |= strcmp(req->metadata[i].key, "created-by") == 0;
	}
	if (!own_tag)
		jsonw_kstr(&w, "created-by", "sandbox-mcp");
	jsonw_obj_end(&w);
	if (req->network != NULL) {
		/* §0.13: always an explicit defaultAction ({} would mean deny-all). */
		jsonw_key(&w, "networkPolicy");
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "defaultAction",
		    req->network->default_action == 0 ? "deny" : "allow");
		os_write_rules(&w, req->network);
		jsonw_obj_end(&w);
	}
	if (req->secure == 1)
		jsonw_kbool(&w, "secureAccess", true);
	jsonw_obj_end(&w);
	return os_jsonw_done(&w, &bf, c, len, e);
}

/* Everything after the 202: wait for Running, resolve execd (and egress), ping execd. */
static int
create_finish(struct backend *b, struct call *c, const char *id, const struct sb_create *req,
    struct sb_info *out, struct err *e)
{
	const struct json *j = NULL;
	struct ep ep;
	int rc;

	if ((rc = os_wait_state(b, c, id, "Running", &j, e)) != 0)
		return rc;
	if ((rc = os_wait_execd(b, c, id, e)) != 0)
		return rc;
	if (req->network != NULL &&
	    (rc = os_endpoint(b, c, id, OPENSANDBOX_EGRESS_PORT, &ep, e)) != 0)
		return rc;
	return sb_from_json(c, j, out, e);
}

int
os_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_LC };
	const struct json *j;
	const char *id;
	int rc;

	if (req->timeout_s > 0 && req->timeout_s < OS_MIN_TIMEOUT_S)
		return err_set(e, ERR_INVAL,
		    "timeout_s must be at least %d on OpenSandbox "
		    "(got %" PRId64 ")",
		    OS_MIN_TIMEOUT_S, req->timeout_s);
	if (req->auto_pause == 1)
		return err_set(e, ERR_UNSUPPORTED,
		    "OpenSandbox has no auto-pause; leave "
		    "auto_pause unset and pause the sandbox with sandbox_pause");
	if ((rc = check_labels(req->metadata, req->nmetadata, e)) != 0)
		return rc;
	if ((r.body = create_body(req, c, &r.len, e)) == NULL)
		return e->code;
	if ((r.url = os_lc_url(b, c, "/sandboxes")) == NULL)
		return OOM(e);
	if ((rc = os_json(b, c, &r, 0, "creating a sandbox", &j, NULL, e)) != 0)
		return rc;
	if (j == NULL || (id = json_get_str(j, "id")) == NULL)
		return err_set(e, ERR_PROTO,
		    "creating a sandbox: OpenSandbox answered without "
		    "a sandbox id");
	log_msg(LOG_INFO, "opensandbox", "created sandbox %s (state %s)", id, sandbox_state(j));
	rc = create_finish(b, c, id, req, out, e);
	if (rc != 0) {
		struct err de = { 0 };
		int dst = 0;

		/* Whatever went wrong, do not leave a half-made sandbox behind. */
		if (os_delete(b, c, id, true, &dst, &de) != 0 && dst != 404)
			log_msg(LOG_WARN, "opensandbox",
			    "could not delete sandbox %s after a "
			    "failed create: %s",
			    id, de.msg);
		else
			log_msg(LOG_INFO, "opensandbox",
			    "deleted sandbox %s after a failed "
			    "create",
			    id);
		err_prefix(e, "creating sandbox %s failed and it was deleted again: ", id);
		log_scrub(e->msg);
	}
	return rc;
}

int
os_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	const struct json *j;
	int rc;

	if ((rc = os_get(b, c, id, &j, e)) != 0)
		return rc;
	return sb_from_json(c, j, out, e);
}

/* "running" -> "Running"; "killed" means Terminated. */
static const char *
state_param(struct call *c, const char *s)
{
	char *r;

	if (strcmp(s, "killed") == 0)
		return "Terminated";
	r = arena_strdup(c->a, s);
	if (r != NULL && *r)
		r[0] = (char)toupper((unsigned char)r[0]);
	return r;
}

/* Cursor: "PAGE:SIZE" (opaque to callers). */
static int
parse_cursor(const char *cur, int64_t *page, int64_t *size, struct err *e)
{
	const char *colon = strchr(cur, ':');
	struct str p = { cur, colon != NULL ? (size_t)(colon - cur) : strlen(cur) };

	if (!str_to_i64(p, page) || *page < 1 ||
	    (colon != NULL &&
	        (!str_to_i64(str_from(colon + 1), size) || *size < 1 || *size > OS_LIST_PAGE_MAX)))
		return err_set(e, ERR_INVAL,
		    "cursor '%.40s' is not one this server handed out; "
		    "omit it to start from the first page",
		    cur);
	return 0;
}

int
os_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_LC };
	struct buf q = { 0 }, md = { 0 };
	const struct json *items, *pg, *it;
	int64_t page = 1, size = req->limit > 0 ? req->limit : OS_LIST_PAGE_DEFAULT;
	const struct json *j;
	char num[32];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (size > OS_LIST_PAGE_MAX)
		size = OS_LIST_PAGE_MAX;
	if (req->cursor != NULL && (rc = parse_cursor(req->cursor, &page, &size, e)) != 0)
		return rc;
	for (size_t i = 0; i < req->nstates && rc == 0; i++)
		rc = url_query_add(&q, "state", state_param(c, req->states[i]), e);
	/* §2.4: one metadata parameter holding "k=v&k2=v2", encoded once more. */
	for (size_t i = 0; i < req->nmetadata && rc == 0; i++)
		rc = url_query_add(&md, req->metadata[i].key, req->metadata[i].value, e);
	if (rc == 0 && md.len > 0)
		rc = url_query_add(&q, "metadata", md.p, e);
	snprintf(num, sizeof(num), "%" PRId64, page);
	if (rc == 0)
		rc = url_query_add(&q, "page", num, e);
	snprintf(num, sizeof(num), "%" PRId64, size);
	if (rc == 0)
		rc = url_query_add(&q, "pageSize", num, e);
	if (rc == 0 && (r.url = os_lc_url(b, c, "/sandboxes?%s", q.p)) == NULL)
		rc = OOM(e);
	buf_fini(&q);
	buf_fini(&md);
	if (rc != 0)
		return rc;
	if ((rc = os_json(b, c, &r, 200, "listing sandboxes", &j, NULL, e)) != 0)
		return rc;
	items = json_get(j, "items");
	if (items == NULL || items->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "listing sandboxes: the answer has no items array");
	out->items = arena_zalloc(c->a, (items->count + 1) * sizeof(*out->items));
	if (out->items == NULL)
		return OOM(e);
	for (it = items->head; it != NULL; it = it->next)
		if (sb_from_json(c, it, &out->items[out->n], e) == 0)
			out->n++;
		else
			err_clear(e);
	pg = json_get(j, "pagination");
	if (pg != NULL && json_truthy(json_get(pg, "hasNextPage")))
		out->next_cursor = arena_printf(c->a, "%" PRId64 ":%" PRId64, page + 1, size);
	return 0;
}

int
os_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct state_wait w = { .b = b, .c = c, .id = id, .want = "Terminated" };
	struct wait_poll p = { .first_ms = OS_STATE_POLL_MS,
		.max_ms = OS_STATE_POLL_MS,
		.what = "waiting for the sandbox to go" };
	struct err ge = { 0 };
	int rc, st = 0;

	rc = os_delete(b, c, id, false, &st, e);
	if ((rc == ERR_IO || rc == ERR_PROTO || rc == ERR_TIMEOUT) && !cancel_fired(c->cancel) &&
	    !deadline_passed(call_deadline(c))) {
		/* The answer was lost: ask again; a 404 now means the first one worked. */
		err_clear(e);
		rc = os_delete(b, c, id, false, &st, e);
		if (rc == ERR_NOTFOUND) {
			err_clear(e);
			return 0;
		}
	}
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e,
		    arena_printf(c->a,
		        "sandbox %s does not exist (already "
		        "deleted or expired)",
		        id),
		    "list sandboxes with sandbox_list");
	if (rc != 0)
		return rc;
	log_msg(LOG_INFO, "opensandbox", "deleted sandbox %s", id);
	/* Docker removes at once (404); Kubernetes goes Stopping -> Terminated (§2.4). Any
	 * error (the 404 first of all, or a Failed state) ends the wait. */
	p.deadline = deadline_in_ms(OS_KILL_WAIT_MS);
	(void)wait_poll(c, &p, state_probe, &w, &ge);
	return 0;
}

static int
os_pause_resume(struct backend *b, const char *id, bool pause, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_LC };
	const char *what = arena_printf(c->a, "%s sandbox %s", pause ? "pausing" : "resuming", id);
	int rc;

	r.url = os_lc_url(b, c, "/sandboxes/%s/%s", seg(c, id), pause ? "pause" : "resume");
	if (r.url == NULL || what == NULL)
		return OOM(e);
	os_ep_forget(b, id, 0); /* §2.5: re-resolve endpoints after pause/resume */
	rc = os_json(b, c, &r, 0, what, NULL, NULL, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e, arena_printf(c->a, "sandbox %s does not exist", id),
		    "list sandboxes with sandbox_list");
	if (rc != 0)
		return rc;
	if ((rc = os_wait_state(b, c, id, pause ? "Paused" : "Running", NULL, e)) != 0)
		return rc;
	return pause ? 0 : os_wait_execd(b, c, id, e);
}

int
os_pause(struct backend *b, const char *id, struct call *c, struct err *e)
{
	return os_pause_resume(b, id, true, c, e);
}

int
os_resume(struct backend *b, const char *id, struct call *c, struct err *e)
{
	return os_pause_resume(b, id, false, c, e);
}

int
os_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_LC };
	const char *what = arena_printf(c->a, "renewing sandbox %s", id);
	char ts[40];
	const struct json *j;
	int rc;

	if (timeout_s <= 0)
		return err_set(e, ERR_INVAL, "timeout_s must be positive");
	/* §2.5: an absolute time; SDKs compute now + seconds. */
	time_format_rfc3339(time_wall_ms() + timeout_s * 1000, ts, sizeof(ts));
	r.body = arena_printf(c->a, "{\"expiresAt\":\"%s\"}", ts);
	r.url = os_lc_url(b, c, "/sandboxes/%s/renew-expiration", seg(c, id));
	if (r.url == NULL || r.body == NULL || what == NULL)
		return OOM(e);
	r.len = strlen(r.body);
	rc = os_json(b, c, &r, 0, what, &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e, arena_printf(c->a, "sandbox %s does not exist", id),
		    "list sandboxes with sandbox_list");
	if (rc != 0)
		return rc;
	*expires_at = j != NULL ? btime_json(j, "expiresAt") : 0;
	if (*expires_at == 0)
		*expires_at = time_wall_ms() + timeout_s * 1000;
	return 0;
}

int
os_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e)
{
	struct ep ep;
	struct kv *kv;
	int rc;

	if (port < 1 || port > 65535)
		return err_set(e, ERR_INVAL, "port must be 1-65535, not %d", port);
	if ((rc = os_resolve(b, c, id, port, b->use_proxy, &ep, e)) != 0)
		return rc;
	out->url = ep.base;
	kv = arena_alloc(c->a, (ep.nh + 1) * sizeof(*kv));
	if (kv == NULL)
		return OOM(e);
	for (size_t i = 0; i < ep.nh; i++)
		kv[i] = (struct kv){ ep.h[i].name, ep.h[i].value };
	out->headers = kv;
	out->nheaders = ep.nh;
	return 0;
}

int
os_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	const struct json *j;
	struct ep ep;
	double v;
	int64_t t;
	int rc;

	memset(out, 0, sizeof(*out));
	out->cpu_used_pct = -1;
	out->mem_total_bytes = out->mem_used_bytes = -1;
	out->disk_total_bytes = out->disk_used_bytes = -1;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if ((r.url = os_ep_url(b, c, &ep, "/metrics", e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 200, arena_printf(c->a, "reading metrics of sandbox %s", id),
	         &j, NULL, e)) != 0)
		return rc;
	if (j == NULL)
		return err_set(e, ERR_PROTO, "execd sent empty metrics");
	if (json_double(json_get(j, "cpu_count"), &v))
		out->cpu_count = v;
	if (json_double(json_get(j, "cpu_used_pct"), &v))
		out->cpu_used_pct = v;
	if (json_double(json_get(j, "mem_total_mib"), &v))
		out->mem_total_bytes = (int64_t)(v * 1048576.0);
	if (json_double(json_get(j, "mem_used_mib"), &v))
		out->mem_used_bytes = (int64_t)(v * 1048576.0);
	out->timestamp = json_int(json_get(j, "timestamp"), &t) ? t : time_wall_ms();
	return 0;
}

int
os_paused_hint(struct backend *b, struct call *c, const char *id, int rc, struct err *e)
{
	struct call c2 = { .a = c->a, .deadline = deadline_in_ms(5000) };
	struct err ge = { 0 };
	const struct json *j;

	if (os_get(b, &c2, id, &j, &ge) != 0 || strcmp(sandbox_state(j), "Running") == 0)
		return rc;
	err_clear(e);
	return err_set(e, ERR_BACKEND, "sandbox %s is %s, so its execd cannot answer; %s", id,
	    lower_dup(c, sandbox_state(j)),
	    strcmp(sandbox_state(j), "Paused") == 0
	        ? "resume it with sandbox_resume"
	        : "wait until it is running or create a new one");
}
