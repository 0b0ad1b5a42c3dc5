/*
 * test_common.c -- backends/common/: the rules the remote backends share.
 *
 * rest: the retry rule, request preparation (headers, deadline, token), error details,
 * one sentence per status, and rest_json against a small HTTP server in a thread of this
 * process (status sentences from real answers, bad JSON -> ERR_PROTO, a GET retried and
 * a POST not after a dropped keep-alive connection, cancel and deadline).
 * policy: the case rule, target checks, the merge. search: the file_search filter.
 * wait: sleeps that end at cancel and at the deadline, polling with backoff.
 * time: RFC 3339 and Go's zero time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/common/policy.h"
#include "backends/common/rest.h"
#include "backends/common/search.h"
#include "backends/common/time.h"
#include "backends/common/wait.h"
#include "json/json.h"
#include "util/arena.h"
#include "util/cancel.h"
#include "util/log.h"
#include "util/time.h"

#include "tap.h"

static struct arena *A;

static struct call
mkcall(struct cancel *cancel, int64_t deadline)
{
	return (struct call){ .a = A, .cancel = cancel, .deadline = deadline };
}

static bool
has(const char *s, const char *needle)
{
	return s != NULL && strstr(s, needle) != NULL;
}

/* ---- wait --------------------------------------------------------------------------- */

struct fire_later {
	struct cancel *c;
	int ms;
};

static void *
fire_later(void *arg)
{
	struct fire_later *f = arg;

	poll(NULL, 0, f->ms);
	cancel_fire(f->c);
	return NULL;
}

static void
test_wait_sleep(void)
{
	struct cancel *cn = cancel_new();
	struct fire_later f = { cn, 50 };
	struct err e = { 0 };
	struct call c = mkcall(NULL, 0);
	pthread_t th;
	int64_t t0;
	int rc;

	t0 = time_mono_ms();
	is_int(wait_sleep(&c, 30, "napping", &e), 0, "sleep without token or deadline: 0");
	ok(time_mono_ms() - t0 >= 30, "it slept the whole 30 ms");
	is_int(wait_sleep(NULL, 0, "napping", &e), 0, "a NULL call is no token and no deadline");

	c = mkcall(cn, 0);
	pthread_create(&th, NULL, fire_later, &f);
	t0 = time_mono_ms();
	rc = wait_sleep(&c, 10000, "waiting for sandbox s1 to become Running", &e);
	pthread_join(th, NULL);
	is_int(rc, ERR_CANCELLED, "a token fired mid-sleep ends it with ERR_CANCELLED");
	ok(time_mono_ms() - t0 < 5000, "at once, not after the 10 s");
	is_str(e.msg, "waiting for sandbox s1 to become Running was cancelled",
	    "the sentence names what was waited for");
	err_clear(&e);
	is_int(wait_sleep(&c, 0, "x", &e), ERR_CANCELLED, "a fired token ends even a 0 ms sleep");
	is_int(wait_sleep_until(cn, DEADLINE_NONE, 10, "x", NULL), ERR_CANCELLED,
	    "a NULL err still gives the code");
	cancel_free(cn);

	err_clear(&e);
	c = mkcall(NULL, deadline_in_ms(50));
	t0 = time_mono_ms();
	rc = wait_sleep(&c, 10000, "waiting for execd", &e);
	is_int(rc, ERR_TIMEOUT, "the deadline ends a long sleep with ERR_TIMEOUT");
	ok(time_mono_ms() - t0 >= 50 && time_mono_ms() - t0 < 5000,
	    "at the deadline, not before it and not after the sleep");
	is_str(e.msg, "waiting for execd did not finish before the deadline",
	    "the sentence names what was waited for");
	err_clear(&e);
	c = mkcall(NULL, time_mono_ms() - 1);
	is_int(wait_sleep(&c, 0, "x", &e), ERR_TIMEOUT, "a passed deadline ends a 0 ms sleep");
	err_clear(&e);
	c = mkcall(NULL, deadline_in_ms(5000));
	is_int(wait_sleep(&c, 10, "x", &e), 0, "a sleep shorter than the deadline: 0");
}

struct probe {
	int calls, done_at, fail_at;
	int64_t at[8];
	const char *what;
};

static int
probe(void *arg, const char **what, struct err *e)
{
	struct probe *p = arg;

	if (p->calls < 8)
		p->at[p->calls] = time_mono_ms();
	p->calls++;
	if (p->what != NULL)
		*what = p->what;
	if (p->fail_at != 0 && p->calls == p->fail_at)
		return err_set(e, ERR_BACKEND, "sandbox s1 is Failed");
	return p->calls == p->done_at ? 0 : WAIT_MORE;
}

static void
test_wait_poll(void)
{
	struct wait_poll wp = { .first_ms = 10, .max_ms = 40, .what = "waiting for s1" };
	struct probe p = { .done_at = 5 };
	struct cancel *cn;
	struct err e = { 0 };
	struct call c = mkcall(NULL, deadline_in_ms(10000));
	int rc;

	is_int(wait_poll(&c, &wp, probe, &p, &e), 0, "poll until the probe says done");
	is_int(p.calls, 5, "five probes");
	ok(p.at[1] - p.at[0] >= 10 && p.at[2] - p.at[1] >= 20 && p.at[3] - p.at[2] >= 40 &&
	        p.at[4] - p.at[3] >= 40,
	    "pauses 10, 20, 40, 40 ms: doubling up to max_ms");

	p = (struct probe){ .done_at = 100, .fail_at = 2 };
	is_int(wait_poll(&c, &wp, probe, &p, &e), ERR_BACKEND, "a probe's error ends the wait");
	is_str(e.msg, "sandbox s1 is Failed", "with the probe's sentence");
	ok(p.calls == 2, "and no more probes");

	err_clear(&e);
	p = (struct probe){ .done_at = 1000,
		.what = "waiting for s1 to become Running (it is "
		        "Pending)" };
	wp.deadline = deadline_in_ms(60);
	rc = wait_poll(&c, &wp, probe, &p, &e);
	is_int(rc, ERR_TIMEOUT, "the wait's own deadline ends it");
	is_str(e.msg,
	    "waiting for s1 to become Running (it is Pending) did not finish before "
	    "the deadline",
	    "with the probe's latest sentence");

	err_clear(&e);
	p = (struct probe){ .done_at = 1000 };
	wp.deadline = 0;
	c = mkcall(NULL, time_mono_ms() - 1);
	rc = wait_poll(&c, &wp, probe, &p, &e);
	ok(rc == ERR_TIMEOUT && p.calls == 1,
	    "a passed call deadline: one probe, then ERR_TIMEOUT");

	err_clear(&e);
	cn = cancel_new();
	cancel_fire(cn);
	c = mkcall(cn, 0);
	p = (struct probe){ .done_at = 1000 };
	is_int(wait_poll(&c, &wp, probe, &p, &e), ERR_CANCELLED, "a fired token ends the poll");
	is_str(e.msg, "waiting for s1 was cancelled", "cancel sentence");
	cancel_free(cn);
}

/* ---- time --------------------------------------------------------------------------- */

static void
test_time(void)
{
	struct err e = { 0 };
	const char
	    *doc = "{\"startedAt\":\"2026-11-21T23:48:31Z\",\"endAt\":\"0001-01-01T00:00:00Z\","
	           "\"other\":\"<unknown>\",\"n\":5,\"frac\":\"2026-11-21T23:48:31.123+02:00\"}";
	const struct json *j = json_parse(doc, strlen(doc), A, &e);

	is_int(btime_parse("2026-11-21T23:48:31Z"), 1795304911000LL, "RFC 3339 to epoch ms");
	is_int(btime_parse("2026-11-21T23:48:31.123+02:00"), 1795297711123LL,
	    "fractions and offsets");
	is_int(btime_parse("0001-01-01T00:00:00Z"), 0, "Go's zero time is never (0)");
	is_int(btime_parse("0001-01-01T00:00:00.000+00:00"), 0, "also with a fraction and offset");
	is_int(btime_parse("<unknown>"), 0, "malformed: 0");
	is_int(btime_parse(""), 0, "empty: 0");
	is_int(btime_parse(NULL), 0, "NULL: 0");
	ok(j != NULL, "the document parses");
	is_int(btime_json(j, "startedAt"), 1795304911000LL, "btime_json reads a member");
	is_int(btime_json(j, "frac"), 1795297711123LL, "btime_json with offset");
	is_int(btime_json(j, "endAt"), 0, "E2B's never-timeout endAt: 0");
	is_int(btime_json(j, "other"), 0, "\"<unknown>\": 0");
	is_int(btime_json(j, "n"), 0, "a number: 0");
	is_int(btime_json(j, "missing"), 0, "absent: 0");
	is_int(btime_json(NULL, "x"), 0, "no object: 0");
}

/* ---- search ------------------------------------------------------------------------- */

static bool
matches_are(const struct file_search *fs, const char *const *want, size_t n)
{
	if (fs->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(fs->matches[i], want[i]) != 0)
			return false;
	return true;
}

static void
run_search(const char *root, const char *pattern, unsigned flags, const char *const *cand,
    size_t ncand, size_t max, struct file_search *fs)
{
	struct search s;
	struct err e = { 0 };

	if (search_begin(&s, root, pattern, flags, ncand, max, fs, A, &e) != 0) {
		note("search_begin: %s", e.msg);
		return;
	}
	for (size_t i = 0; i < ncand; i++)
		if (!search_add(&s, cand[i]))
			break;
}

static void
test_search(void)
{
	static const char *const cand[] = { "/w/src/a.py", "/w/src/sub/b.py", "/w/a.py",
		"/w/src/c.txt", "/other/src/d.py" };
	static const char *const deep[] = { "/w/a.py", "/w/x/y/z.py", "/w/x/readme" };
	static const char *const src_py[] = { "/w/src/a.py" };
	static const char *const top_py[] = { "/w/a.py" };
	static const char *const all_py[] = { "/w/a.py", "/w/x/y/z.py" };
	size_t nc = sizeof(cand) / sizeof(cand[0]), nd = sizeof(deep) / sizeof(deep[0]);
	struct file_search fs;
	struct search s;
	struct err e = { 0 };
	char big[SEARCH_PATTERN_MAX + 2];

	is_str(search_leaf("src/**/*.py"), "*.py", "leaf: the last segment");
	is_str(search_leaf("*.py"), "*.py", "leaf of a one-segment pattern");
	is_int(search_depth("*.py", 32), 1, "depth of one segment: 1");
	is_int(search_depth("src/*/x.py", 32), 3, "one level per segment");
	is_int(search_depth("src/**/x.py", 32), 32, "** needs the deepest listing");
	is_int(search_check("*.py", &e), 0, "a pattern passes the check");
	is_int(search_check("", &e), ERR_INVAL, "an empty pattern is refused");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_clear(&e);
	is_int(search_check(big, &e), ERR_INVAL, "a pattern over SEARCH_PATTERN_MAX is refused");

	run_search("/w", "src/*.py", 0, cand, nc, 100, &fs);
	ok(matches_are(&fs, src_py, 1) && !fs.truncated,
	    "relative to the root; * stays within a segment");
	run_search("/w/", "src/*.py", 0, cand, nc, 100, &fs);
	ok(matches_are(&fs, src_py, 1), "a root with a trailing '/'");
	run_search("w", "src/*.py", 0, cand, nc, 100, &fs);
	ok(matches_are(&fs, src_py, 1),
	    "a root without a leading '/' (OpenSandbox's relative paths)");
	run_search("/", "w/src/*.py", 0, cand, nc, 100, &fs);
	ok(matches_are(&fs, src_py, 1), "root '/'");
	run_search("/w", "*.py", 0, cand, nc, 100, &fs);
	ok(matches_are(&fs, top_py, 1), "no '/' and no flag: matched against the relative path");
	run_search("/w", "**/*.py", 0, deep, nd, 100, &fs);
	ok(matches_are(&fs, all_py, 2), "** crosses directories, also none");

	run_search("/w", "*.py", SEARCH_BASENAMES, deep, nd, 100, &fs);
	ok(fs.n == 3, "SEARCH_BASENAMES and no '/': the platform's base-name match stands");
	run_search("/w", "x/*/*.py", SEARCH_BASENAMES, deep, nd, 100, &fs);
	ok(fs.n == 1 && strcmp(fs.matches[0], "/w/x/y/z.py") == 0,
	    "SEARCH_BASENAMES with '/': still matched here");
	run_search("/other", "src/*.py", 0, cand, nc, 100, &fs);
	ok(fs.n == 1 && strcmp(fs.matches[0], "/other/src/d.py") == 0, "another root");
	search_begin(&s, "/w", "x", 0, 1, 1, &fs, A, &e);
	is_str(search_rel(&s, "/w/x/y"), "x/y", "search_rel under the root");
	is_str(search_rel(&s, "/v/x"), "v/x", "search_rel outside the root: without the '/'");
	is_str(search_rel(&s, "/wx/y"), "wx/y", "a sibling with the root as prefix is outside");

	run_search("/w", "**", 0, cand, nc, 2, &fs);
	ok(fs.n == 2 && fs.truncated, "the cap: two matches and truncated");
	run_search("/w", "**", 0, deep, nd, 3, &fs);
	ok(fs.n == 3 && !fs.truncated, "exactly max matches is not truncated");
	{
		bool more;

		search_begin(&s, "/w", "*.py", 0, 2, 1, &fs, A, &e);
		more = search_add(&s, "/w/a.py");
		ok(more && !search_add(&s, "/w/b.py") && fs.truncated && fs.n == 1,
		    "search_add says stop once a match finds no room");
		ok(search_add(&s, NULL), "a NULL candidate is skipped");
	}
}

/* ---- policy ------------------------------------------------------------------------- */

static bool
list_is(const char *const *got, size_t n, const char *const *want, size_t nw)
{
	if (n != nw)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(got[i], want[i]) != 0)
			return false;
	return true;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_policy(void)
{
	const char *cur_allow[] = { "pypi.org", "github.com" };
	const char *cur_deny[] = { "10.0.0.0/8", "evil.com", "2001:db8::/32" };
	const char *req_allow[] = { "EVIL.com", "PyPI.org", "pypi.org", "2001:DB8::/32" };
	const char *bad_empty[] = { "" }, *bad_space[] = { "a.com b.com" };
	const char *deny_dom[] = { "example.com" }, *deny_cidr[] = { "10.0.0.0/8", "::1" };
	const char *want_allow[] = { "EVIL.com", "PyPI.org", "2001:DB8::/32", "github.com" };
	const char *want_deny[] = { "10.0.0.0/8", "2001:db8::/32" };
	struct net_policy cur = { .default_action = 0,
		.allow = cur_allow,
		.nallow = 2,
		.deny = cur_deny,
		.ndeny = 3 };
	struct net_policy req = { .default_action = -1, .allow = req_allow, .nallow = 4 };
	struct net_policy np = { .default_action = -1 };
	struct policy_merged m;
	struct err e = { 0 };

	ok(policy_is_addr("10.0.0.1") && policy_is_addr("10.0.0.0/8") && policy_is_addr("::1") &&
	        policy_is_addr("2001:db8::/32") && policy_is_addr("0.0.0.0/0"),
	    "addresses and CIDR blocks");
	ok(!policy_is_addr("10.0.0.0/33") && !policy_is_addr("::/129") &&
	        !policy_is_addr("10.0.0.1/") && !policy_is_addr("1.2.3.4/x") &&
	        !policy_is_addr("example.com") && !policy_is_addr("") && !policy_is_addr("/8"),
	    "not addresses: bad prefixes, names, empty");

	ok(policy_same("PyPI.org", "pypi.org"), "domain names compare case-insensitively");
	ok(policy_same("*.Example.COM", "*.example.com"), "wildcards too");
	ok(policy_same("10.0.0.0/8", "10.0.0.0/8"), "the same CIDR block");
	ok(!policy_same("2001:DB8::1", "2001:db8::1"), "addresses compare exactly");
	ok(!policy_same("a.com", "b.com") && !policy_same("a.com", "a.com."), "different names");

	is_int(policy_check(NULL, "X", POLICY_DENY_ADDRS, &e), 0, "no policy passes");
	is_int(policy_check(&cur, "X", 0, &e), 0, "names, wildcards and CIDRs pass");
	np.allow = bad_empty;
	np.nallow = 1;
	is_int(policy_check(&np, "X", 0, &e), ERR_INVAL, "an empty target is refused");
	err_clear(&e);
	np.allow = bad_space;
	is_int(policy_check(&np, "X", 0, &e), ERR_INVAL, "a target with a space is refused");
	ok(has(e.msg, "'a.com b.com'"), "naming it: %s", e.msg);
	err_clear(&e);
	np.nallow = 0;
	np.deny = deny_dom;
	np.ndeny = 1;
	is_int(policy_check(&np, "E2B/OpenKruise", 0, &e), 0,
	    "a domain deny rule passes by default");
	is_int(policy_check(&np, "E2B/OpenKruise", POLICY_DENY_ADDRS, &e), ERR_UNSUPPORTED,
	    "POLICY_DENY_ADDRS refuses a domain deny rule");
	ok(has(e.msg,
	       "E2B/OpenKruise deny rules take IP addresses and CIDR blocks only, not "
	       "'example.com'"),
	    "naming the platform and the target: %s", e.msg);
	err_clear(&e);
	np.deny = deny_cidr;
	np.ndeny = 2;
	is_int(policy_check(&np, "E2B", POLICY_DENY_ADDRS, &e), 0, "address deny rules pass");

	is_int(policy_merge(&cur, &req, false, &m, A, &e), 0, "merge");
	is_int(m.np.default_action, 0, "no default in the request: the current one");
	ok(list_is(m.np.allow, m.np.nallow, want_allow, N(want_allow)),
	    "allow: the request's first (one PyPI.org for two spellings), then the current ones "
	    "it does not name");
	ok(list_is(m.np.deny, m.np.ndeny, want_deny, N(want_deny)),
	    "deny: evil.com dropped (the request allows EVIL.com); 2001:db8::/32 kept (not the "
	    "same as 2001:DB8::/32)");
	ok(m.nallow_req == 3 && m.ndeny_req == 0, "the request's share of each list");

	req.default_action = 1;
	is_int(policy_merge(&cur, &req, true, &m, A, &e), 0, "replace");
	ok(m.np.default_action == 1 && m.np.nallow == 3 && m.np.ndeny == 0 && m.nallow_req == 3,
	    "replace: the request's rules and default only");
	req.default_action = -1;
	cur.default_action = 1;
	policy_merge(&cur, &req, true, &m, A, &e);
	is_int(m.np.default_action, 1, "replace without a default: cur's (the platform's)");
	req.nallow = 0;
	policy_merge(&cur, &req, false, &m, A, &e);
	ok(m.np.nallow == 2 && m.np.ndeny == 3 && m.nallow_req == 0,
	    "an empty request keeps the current rules");
}

/* ---- rest: pure parts --------------------------------------------------------------- */

static const char *
hdr(const struct http_request *rq, const char *name, int *count)
{
	const char *v = NULL;

	*count = 0;
	for (size_t i = 0; i < rq->nheaders; i++)
		if (strcasecmp(rq->headers[i].name, name) == 0) {
			(*count)++;
			v = rq->headers[i].value;
		}
	return v;
}

static void
test_rest_prepare(void)
{
	static const struct http_header auth[] = { { "X-API-Key", "k" } };
	static const struct http_header acc[] = { { "accept", "text/event-stream" },
		{ "Content-Type", "multipart/form-data" } };
	struct cancel *cn = cancel_new();
	struct call c = mkcall(cn, deadline_in_ms(60000));
	struct rest_req r = { .method = "GET",
		.url = "http://h/x",
		.headers = auth,
		.nheaders = 1 };
	struct http_request rq;
	struct err e = { 0 };
	int n;

	ok(rest_idempotent("GET") && rest_idempotent("HEAD") && rest_idempotent("OPTIONS") &&
	        rest_idempotent("PUT") && rest_idempotent("DELETE"),
	    "GET HEAD OPTIONS PUT DELETE retry");
	ok(!rest_idempotent("POST") && !rest_idempotent("PATCH"), "POST and PATCH do not");

	is_int(rest_prepare(&r, &c, &rq, &e), 0, "prepare a GET");
	ok(rq.idempotent, "a GET may be retried");
	is_str(hdr(&rq, "Accept", &n), "application/json", "Accept: application/json added");
	ok(n == 1 && hdr(&rq, "Content-Type", &n) == NULL, "no Content-Type without a body");
	is_str(hdr(&rq, "X-API-Key", &n), "k", "the backend's headers are sent");
	ok(rq.cancel == cn && rq.deadline == c.deadline, "the call's token and deadline");
	ok(rq.body_max == REST_BODY_MAX, "REST_BODY_MAX by default");

	r.method = "POST";
	r.body = "{}";
	r.len = 2;
	r.timeout_ms = 1000;
	rest_prepare(&r, &c, &rq, &e);
	ok(!rq.idempotent, "a POST is not retried");
	is_str(hdr(&rq, "Content-Type", &n), "application/json", "a body is JSON by default");
	ok(rq.deadline <= deadline_in_ms(1000) && rq.deadline < c.deadline,
	    "timeout_ms caps the call's deadline");
	ok(rq.body == r.body && rq.body_len == 2, "the body");
	r.idempotent = true;
	rest_prepare(&r, &c, &rq, &e);
	ok(rq.idempotent, "a POST marked idempotent is");

	r.headers = acc;
	r.nheaders = 2;
	r.ctype = "text/plain";
	rest_prepare(&r, &c, &rq, &e);
	ok(hdr(&rq, "Accept", &n) != NULL && n == 1 &&
	        strcmp(hdr(&rq, "Accept", &n), "text/event-stream") == 0,
	    "the backend's Accept replaces ours");
	ok(strcmp(hdr(&rq, "Content-Type", &n), "multipart/form-data") == 0 && n == 1,
	    "and its Content-Type");

	r.headers = auth;
	r.nheaders = 1;
	rest_prepare(&r, &c, &rq, &e);
	is_str(hdr(&rq, "Content-Type", &n), "text/plain", "ctype names the body's type");

	r.cleanup = true;
	r.timeout_ms = 15000;
	c.deadline = time_mono_ms() - 1;
	rest_prepare(&r, &c, &rq, &e);
	ok(rq.cancel == NULL && rq.deadline > time_mono_ms() + 10000,
	    "cleanup: no token, timeout_ms alone (the call has passed its deadline)");
	r.cleanup = false;
	r.deadline = 12345;
	rest_prepare(&r, &c, &rq, &e);
	ok(rq.deadline == 12345, "an explicit deadline wins");
	r.deadline = 0;
	r.timeout_ms = 0;
	c.deadline = 0;
	rest_prepare(&r, &c, &rq, &e);
	ok(rq.deadline == DEADLINE_NONE, "no call deadline and no timeout: none");
	cancel_free(cn);
}

static const char *
detail(const char *body, const char *reason)
{
	struct http_response rs = { .status = 400, .reason = reason };

	return rest_detail(&rs, body, body != NULL ? strlen(body) : 0, A);
}

static void
test_rest_detail(void)
{
	is_str(detail("{\"code\":\"SANDBOX_NOT_FOUND\",\"message\":\"no such sandbox\"}", "x"),
	    "SANDBOX_NOT_FOUND: no such sandbox", "OpenSandbox: code: message");
	is_str(detail("{\"code\":404,\"message\":\"sandbox not found\"}", "x"), "sandbox not found",
	    "E2B: a numeric code is left out");
	is_str(detail("{\"error\":\"file not found\"}", "x"), "file not found", "execd's error");
	is_str(detail("{\"error\":{\"message\":\"quota\",\"type\":\"q\"}}", "x"), "quota",
	    "an error object's message");
	is_str(detail("{\"detail\":\"Not authenticated\"}", "x"), "Not authenticated",
	    "FastAPI's detail string");
	is_str(detail("{\"detail\":[{\"loc\":[\"body\",\"timeout\",0],\"msg\":\"Input should be "
	              "greater than 60\"},{\"loc\":[],\"msg\":\"x\"}]}",
	           "x"),
	    "body.timeout.0: Input should be greater than 60 (and more)",
	    "FastAPI's validation list");
	is_str(detail("  \n upstream connect error  \nmore", "x"), "upstream connect error",
	    "a text body: its first non-blank line, trimmed");
	is_str(detail("{\"other\":1}", "x"), "{\"other\":1}", "JSON without words: the text");
	is_str(detail("{bad", "x"), "{bad", "invalid JSON: the text");
	is_str(detail("", "Bad Gateway"), "Bad Gateway", "empty: the reason phrase");
	is_str(detail(NULL, ""), "no details", "nothing at all: no details");
	is_str(detail("\r\n", NULL), "no details", "a blank body: no details");
}

struct st_case {
	int status;
	int code;
	const char *sentence;
};

static void
test_rest_status(void)
{
	static const struct rest_peer peer = { "the E2B API", "set X_API_KEY or E2B_API_KEY" };
	static const struct rest_peer bare = { "the egress sidecar", NULL };
	static const struct st_case cases[] = {
		{ 400, ERR_INVAL, "w: the E2B API rejected the request (400: m)" },
		{ 422, ERR_INVAL, "w: the E2B API rejected the request (422: m)" },
		{ 401, ERR_BACKEND,
		    "w: the E2B API rejected the credentials (401: m); set X_API_KEY "
		    "or E2B_API_KEY" },
		{ 403, ERR_BACKEND,
		    "w: the E2B API does not allow it (403: m); check the key's "
		    "permissions and quotas" },
		{ 404, ERR_NOTFOUND, "w: not found (404: m)" },
		{ 405, ERR_UNSUPPORTED, "w: the E2B API does not allow this method (405: m)" },
		{ 409, ERR_BACKEND, "w: the E2B API refused it in the current state (409: m)" },
		{ 413, ERR_TOOBIG, "w: the E2B API refused it as too large (413: m)" },
		{ 429, ERR_BACKEND,
		    "w: the E2B API is limiting the request rate (429: m); wait and "
		    "try again" },
		{ 500, ERR_BACKEND, "w: the E2B API failed (500: m); try again" },
		{ 501, ERR_UNSUPPORTED, "w: the E2B API does not implement it (501: m)" },
		{ 503, ERR_BACKEND, "w: the E2B API failed (503: m); try again" },
		{ 302, ERR_HTTP, "w: the E2B API answered with an unexpected status (302: m)" },
		{ 418, ERR_HTTP, "w: the E2B API answered with an unexpected status (418: m)" },
	};
	const char *body = "{\"message\":\"m\"}";
	struct http_response rs = { 0 };
	struct err e = { 0 };

	for (size_t i = 0; i < N(cases); i++) {
		err_clear(&e);
		rs.status = cases[i].status;
		is_int(rest_status_err(&peer, "w", &rs, body, strlen(body), A, &e), cases[i].code,
		    "status %d: code", cases[i].status);
		is_str(e.msg, cases[i].sentence, "status %d: sentence", cases[i].status);
	}
	err_clear(&e);
	rs.status = 401;
	rest_status_err(&bare, "changing the policy", &rs, "unauthorized\n", 13, A, &e);
	is_str(e.msg,
	    "changing the policy: the egress sidecar rejected the credentials (401: "
	    "unauthorized)",
	    "401 without a hint");
	err_clear(&e);
	rest_status_err(NULL, NULL, &rs, NULL, 0, A, &e);
	is_str(e.msg, "the request: the server rejected the credentials (401: no details)",
	    "no peer, no what, no body");

	log_add_secret("sk-secret-key-123");
	err_clear(&e);
	body = "{\"message\":\"key sk-secret-key-123 is not valid\"}";
	rest_status_err(&peer, "w", &rs, body, strlen(body), A, &e);
	ok(!has(e.msg, "sk-secret-key-123") && has(e.msg, "[redacted]"),
	    "a key echoed in an error body is scrubbed: %s", e.msg);

	err_clear(&e);
	rs.status = 404;
	body = "{\"code\":\"NOT_FOUND\",\"message\":\"gone\"}";
	rest_status_err(&peer, "getting sandbox s1", &rs, body, strlen(body), A, &e);
	is_int(rest_notfound(&e, "sandbox s1 does not exist", "list sandboxes with sandbox_list"),
	    ERR_NOTFOUND, "rest_notfound");
	is_str(e.msg,
	    "sandbox s1 does not exist (404: NOT_FOUND: gone); list sandboxes with "
	    "sandbox_list",
	    "rest_notfound keeps the platform's words");
	err_clear(&e);
	rest_status_err(&peer, "x", &rs, NULL, 0, A, &e);
	rest_notfound(&e, NULL, NULL);
	is_str(e.msg, "not found (404: no details)", "rest_notfound without subject and hint");
}

/* ---- rest over a socket ------------------------------------------------------------- */

#define SRV_CLOSE "close" /* read the request, close without answering */
#define SRV_HANG  "hang"  /* read the request, answer nothing until stopped */

struct srv {
	int lfd, port;
	pthread_t th;
	const char *const *script; /* one action per request */
	size_t n, next;
	int conns;
	char last[4096]; /* the last request, head and body */
	atomic_int stop;
};

/* Reads one request (head and Content-Length body) and copies it to s->last once whole;
 * false at EOF or stop. */
static bool
srv_read(struct srv *s, int fd)
{
	char in[sizeof(s->last)];
	size_t len = 0, want = 0;
	char *end = NULL;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (atomic_load(&s->stop))
			return false;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = read(fd, in + len, sizeof(in) - 1 - len);
		if (r <= 0)
			return false;
		len += (size_t)r;
		in[len] = '\0';
		if (end == NULL && (end = strstr(in, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(in, "\r\nContent-Length:");

			want = (size_t)(end + 4 - in) +
			    (cl != NULL ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if ((end != NULL && len >= want) || len == sizeof(in) - 1) {
			memcpy(s->last, in, len + 1);
			return true;
		}
	}
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;

	while (s->next < s->n && !atomic_load(&s->stop)) {
		struct pollfd p = { s->lfd, POLLIN, 0 };
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		s->conns++;
		while (s->next < s->n && srv_read(s, fd)) {
			const char *act = s->script[s->next++];
			ssize_t w;

			if (strcmp(act, SRV_CLOSE) == 0)
				break;
			if (strcmp(act, SRV_HANG) == 0) {
				while (!atomic_load(&s->stop))
					poll(NULL, 0, 20);
				break;
			}
			w = write(fd, act, strlen(act));
			(void)w;
		}
		close(fd);
	}
	return NULL;
}

static int
srv_start(struct srv *s, const char *const *script, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->script = script;
	s->n = n;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s->lfd, 8) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	s->port = ntohs(sa.sin_port);
	return pthread_create(&s->th, NULL, srv_main, s);
}

static void
srv_stop(struct srv *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

static const char *
answer(int status, const char *reason, const char *ctype, const char *body)
{
	return arena_printf(A,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Next-Token: t2\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    status, reason, ctype, strlen(body), body);
}

static void
test_rest_http(void)
{
	static const struct rest_peer peer = { "the OpenSandbox server",
		"set OPEN_SANDBOX_API_KEY or --api-key" };
	static const struct http_header key[] = { { "OPEN-SANDBOX-API-KEY", "sk-abcdefgh" } };
	struct http_config cfg = { .ignore_proxy_env = true };
	struct http_client *http;
	struct rest_answer ans;
	struct rest_req r = { .method = "GET",
		.headers = key,
		.nheaders = 1,
		.peer = &peer,
		.what = "listing sandboxes" };
	struct call c = mkcall(NULL, deadline_in_ms(20000));
	struct err e = { 0 };
	struct srv s;
	const char *script[4];
	int rc;

	if ((http = http_client_new(&cfg, &e)) == NULL) {
		ok(0, "http_client_new: %s", e.msg);
		return;
	}

	/* Answers of each kind, one connection (keep-alive). */
	script[0] = answer(200, "OK", "application/json", "{\"items\":[1,2]}");
	script[1] = answer(200, "OK", "application/json", "<html>not json</html>");
	script[2] = answer(401, "Unauthorized", "application/json",
	    "{\"code\":\"INVALID_API_KEY\",\"message\":\"bad key\"}");
	script[3] = answer(200, "OK", "application/json", "");
	if (srv_start(&s, script, 4) != 0) {
		ok(0, "the test server starts");
		http_client_free(http);
		return;
	}
	r.url = arena_printf(A, "http://127.0.0.1:%d/v1/sandboxes", s.port);
	rc = rest_json(http, &r, &c, &ans, &e);
	ok(rc == 0 && ans.status == 200 && ans.j != NULL && json_get(ans.j, "items") != NULL,
	    "200 with JSON: parsed");
	is_str(rest_header(&ans, "x-next-token"), "t2", "answer headers are kept");
	ok(has(s.last, "GET /v1/sandboxes HTTP/1.1") && has(s.last, "Accept: application/json") &&
	        has(s.last, "OPEN-SANDBOX-API-KEY: sk-abcdefgh"),
	    "the request on the wire");
	rc = rest_json(http, &r, &c, &ans, &e);
	is_int(rc, ERR_PROTO, "200 with a body that is not JSON: ERR_PROTO");
	ok(has(e.msg,
	       "listing sandboxes: the OpenSandbox server sent invalid JSON: invalid JSON "
	       "at byte 0"),
	    "with a sentence: %s", e.msg);
	ok(ans.status == 200, "the status is still known");
	err_clear(&e);
	r.method = "POST";
	r.body = "{\"x\":1}";
	r.len = 7;
	rc = rest_json(http, &r, &c, &ans, &e);
	is_int(rc, ERR_BACKEND, "401: ERR_BACKEND");
	is_str(e.msg,
	    "listing sandboxes: the OpenSandbox server rejected the credentials (401: "
	    "INVALID_API_KEY: bad key); set OPEN_SANDBOX_API_KEY or --api-key",
	    "401 sentence");
	ok(ans.status == 401 && ans.j == NULL, "status 401 reported, no JSON");
	ok(has(s.last, "Content-Type: application/json") && has(s.last, "{\"x\":1}"),
	    "a JSON body goes with its Content-Type");
	err_clear(&e);
	r.want_status = 201;
	rc = rest_json(http, &r, &c, &ans, &e);
	is_int(rc, ERR_HTTP, "want_status 201, got 200: the status is the error");
	ok(has(e.msg, "(200: OK)"), "the reason phrase stands in for an empty body: %s", e.msg);
	srv_stop(&s);
	ok(s.conns == 1, "one kept-alive connection served all four");

	/* A pooled connection dropped before the answer: a GET is sent again, a POST is not. */
	script[0] = answer(200, "OK", "application/json", "{}");
	script[1] = SRV_CLOSE;
	script[2] = answer(200, "OK", "application/json", "{\"again\":true}");
	srv_start(&s, script, 3);
	r = (struct rest_req){ .method = "GET", .peer = &peer, .what = "reading" };
	r.url = arena_printf(A, "http://127.0.0.1:%d/x", s.port);
	err_clear(&e);
	rc = rest_json(http, &r, &c, &ans, &e);
	ok(rc == 0, "first GET");
	rc = rest_json(http, &r, &c, &ans, &e);
	ok(rc == 0 && json_get(ans.j, "again") != NULL,
	    "the second GET was retried on a new "
	    "connection: %s",
	    e.msg);
	srv_stop(&s);
	is_int(s.conns, 2, "two connections");

	srv_start(&s, script, 3);
	r.url = arena_printf(A, "http://127.0.0.1:%d/x", s.port);
	r.method = "POST";
	err_clear(&e);
	rc = rest_json(http, &r, &c, &ans, &e);
	ok(rc == 0, "first POST");
	rc = rest_json(http, &r, &c, &ans, &e);
	ok(rc != 0 && ans.status == 0, "the second POST fails: not retried");
	ok(has(e.msg, "reading: "), "a transport error starts with what: %s", e.msg);
	srv_stop(&s);
	is_int(s.conns, 1, "one connection");
	http_client_flush(http);

	/* Cancel and deadline of the call. */
	{
		struct cancel *cn = cancel_new();
		struct fire_later f = { cn, 100 };
		pthread_t th;
		int64_t t0;

		script[0] = SRV_HANG;
		srv_start(&s, script, 1);
		r = (struct rest_req){ .method = "GET", .peer = &peer, .what = "reading" };
		r.url = arena_printf(A, "http://127.0.0.1:%d/x", s.port);
		c = mkcall(cn, deadline_in_ms(20000));
		err_clear(&e);
		pthread_create(&th, NULL, fire_later, &f);
		t0 = time_mono_ms();
		rc = rest_json(http, &r, &c, &ans, &e);
		pthread_join(th, NULL);
		ok(rc == ERR_CANCELLED && time_mono_ms() - t0 < 10000,
		    "the call's token ends a request that gets no answer: %s", e.msg);
		srv_stop(&s);
		cancel_free(cn);

		srv_start(&s, script, 1);
		r.url = arena_printf(A, "http://127.0.0.1:%d/x", s.port);
		r.timeout_ms = 150;
		c = mkcall(NULL, deadline_in_ms(20000));
		err_clear(&e);
		t0 = time_mono_ms();
		rc = rest_json(http, &r, &c, &ans, &e);
		ok(rc == ERR_TIMEOUT && time_mono_ms() - t0 < 10000,
		    "timeout_ms ends it with ERR_TIMEOUT: %s", e.msg);
		srv_stop(&s);
	}
	http_client_free(http);
}

int
main(void)
{
	A = arena_new(16u << 20);
	test_wait_sleep();
	test_wait_poll();
	test_time();
	test_search();
	test_policy();
	test_rest_prepare();
	test_rest_detail();
	test_rest_status();
	test_rest_http();
	arena_free(A);
	return done_testing();
}
