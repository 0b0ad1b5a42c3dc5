/*
 * bench_http.c -- HTTP download throughput and TLS handshake time of net/ (numbers only,
 * never pass/fail). Driven by tools/bench.sh, which starts the loopback servers
 * (tests/bench/bench_server.c, `openssl s_server`), runs curl on the same URLs and
 * prints the ratio; run alone without arguments it only says so.
 *
 * Usage:
 *   bench_http download [--ca-file F] [--runs N] URL
 *       GETs URL N times (default 1) on one http_client (keep-alive pool as configured
 *       by default), on_body discarding the bytes; prints one line per run
 *       "download: BYTES bytes in S s = X MB/s" and, for N > 1, a summary.
 *   bench_http handshake [--ca-file F] [--runs N] URL
 *       URL is an `openssl s_server -www` (its status page says "New," or "Reused,"
 *       and names the cipher suite), so the server confirms what resumed. Measures, N times each (default 20):
 *       (1) tls_conn_new() alone on a fresh TCP connection: full handshakes (a new
 *           tls_ctx each time, its CA bundle loaded before the clock starts) against
 *           resumed ones (one tls_ctx whose session cache holds the previous session);
 *       (2) a whole https GET through http_do() with the pool disabled, so every
 *           request opens a new connection: a fresh http_client per request (full
 *           handshake) against one shared client (resumed session).
 * MB are 10^6 bytes, as in bench_stream. Exit status is non-zero only when a transfer
 * fails, which is a bug or a broken setup, not slowness.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/http.h"
#include "net/sock.h"
#include "net/tls.h"
#include "net/url.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/time.h"

#define RUNS_MAX 1000
#define PAGE_MAX (256 * 1024)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v and returns the element at fraction q (0.5: median). */
static double
quantile(double *v, int n, double q)
{
	int i;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

/* ---- download ----------------------------------------------------------------------- */

static int
discard(void *arg, const char *p, size_t n, struct err *e)
{
	*(uint64_t *)arg += n;
	return 0;
}

static int
download(const char *url, const char *ca_file, int runs)
{
	struct http_config cfg = { .ca_file = ca_file, .ignore_proxy_env = true };
	struct http_request rq = { .method = "GET", .url = url };
	struct http_client *c;
	struct err e = { 0 };
	double mbps[RUNS_MAX], best = 0;
	int i;

	c = http_client_new(&cfg, &e);
	if (c == NULL) {
		fprintf(stderr, "bench_http: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < runs; i++) {
		struct http_response rs;
		struct arena *a = arena_new(1 << 20);
		uint64_t got = 0;
		double t0 = now_s(), t;
		int rc = http_do(c, &rq, &rs, discard, &got, a, &e);

		t = now_s() - t0;
		if (rc == 0 && rs.status != 200)
			rc = err_set(&e, ERR_HTTP, "%s answered %d", url, rs.status);
		if (rc == 0 && rs.content_length >= 0 && (uint64_t)rs.content_length != got)
			rc = err_set(&e, ERR_PROTO, "%s: %llu of %lld bytes", url,
			    (unsigned long long)got, (long long)rs.content_length);
		http_response_fini(&rs);
		arena_free(a);
		if (rc) {
			fprintf(stderr, "bench_http: download failed: %s\n", e.msg);
			http_client_free(c);
			return 1;
		}
		mbps[i] = (double)got / t / 1e6;
		if (mbps[i] > best)
			best = mbps[i];
		printf("download: %llu bytes in %.4f s = %.1f MB/s\n", (unsigned long long)got, t,
		    mbps[i]);
	}
	if (runs > 1)
		printf("download %s, %d runs on one client: median %.1f MB/s, best %.1f MB/s\n",
		    url, runs, quantile(mbps, runs, 0.5), best);
	http_client_free(c);
	return 0;
}

/* ---- handshake ---------------------------------------------------------------------- */

enum seen { SEEN_OTHER, SEEN_NEW, SEEN_REUSED };

/* The cipher suite the last status page named ("TLS_AES_256_GCM_SHA384"). */
static char page_cipher[64] = "?";

/* What an `openssl s_server -www` status page says about the session. */
static enum seen
page_says(const char *p, size_t n)
{
	const char *c = memmem(p, n, ", Cipher is ", 12);

	if (c != NULL) {
		size_t i = 0;

		for (c += 12; c<p + n && * c> ' ' && i < sizeof(page_cipher) - 1; c++)
			page_cipher[i++] = *c;
		page_cipher[i] = '\0';
	}
	if (memmem(p, n, "\nReused, ", 9) != NULL)
		return SEEN_REUSED;
	if (memmem(p, n, "\nNew, ", 6) != NULL)
		return SEEN_NEW;
	return SEEN_OTHER;
}

/* One connection: TCP connect, the timed handshake, then GET / and the page to the
 * end (which also takes in TLS 1.3 session tickets, so the ctx can resume next time). */
static int
tls_once(struct tls_ctx *ctx, const struct url *u, double *hs_s, enum seen *seen,
    const char **version, struct err *e)
{
	static char page[PAGE_MAX];
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct tls_conn *t = NULL;
	int64_t dl = deadline_in_ms(10000);
	size_t len = 0, got;
	double t0;
	int fd = -1, rc;

	rc = sock_connect(u->host, u->port, dl, NULL, &fd, e);
	if (rc)
		return rc;
	t0 = now_s();
	rc = tls_conn_new(ctx, fd, u->host, u->port, dl, NULL, &t, e);
	*hs_s = now_s() - t0;
	if (rc == 0) {
		*version = tls_conn_version(t);
		rc = tls_write_all(t, req, sizeof(req) - 1, dl, NULL, e);
	}
	while (rc == 0) {
		rc = tls_read(t, page + len, sizeof(page) - 1 - len, &got, dl, NULL, e);
		if (rc || got == 0)
			break;
		len += got;
		if (len == sizeof(page) - 1)
			break;
	}
	*seen = page_says(page, len);
	tls_conn_free(t);
	close(fd);
	return rc;
}

static void
print_times(const char *what, double *ms, int n)
{
	double med = quantile(ms, n, 0.5), p90 = quantile(ms, n, 0.9);

	printf("%s median %.2f ms (p90 %.2f)", what, med, p90);
}

static int
handshake_tls(const struct url *u, const char *ca_file, int runs)
{
	struct tls_options o = { .ca_file = ca_file };
	struct tls_ctx *shared;
	struct err e = { 0 };
	double full[RUNS_MAX], res[RUNS_MAX], dummy;
	const char *version = "?";
	enum seen seen;
	int i, full_new = 0, res_reused = 0, rc = 0;

	for (i = 0; i < runs && rc == 0; i++) {
		struct tls_ctx *ctx = tls_ctx_new(&o);

		rc = tls_ctx_load(ctx, NULL, &e);
		if (rc == 0)
			rc = tls_once(ctx, u, &full[i], &seen, &version, &e);
		full[i] *= 1000;
		full_new += seen == SEEN_NEW;
		tls_ctx_free(ctx);
	}
	shared = tls_ctx_new(&o);
	if (rc == 0)
		rc = tls_once(shared, u, &dummy, &seen, &version, &e); /* primes the cache */
	for (i = 0; i < runs && rc == 0; i++) {
		rc = tls_once(shared, u, &res[i], &seen, &version, &e);
		res[i] *= 1000;
		res_reused += seen == SEEN_REUSED;
	}
	tls_ctx_free(shared);
	if (rc) {
		fprintf(stderr, "bench_http: handshake failed: %s\n", e.msg);
		return 1;
	}
	printf("tls handshake %s %s with %s:%d (tls_conn_new, %d runs each): ", version,
	    page_cipher, u->host, u->port, runs);
	print_times("full", full, runs);
	print_times(", resumed", res, runs);
	printf("; the server saw %d/%d new, %d/%d resumed\n", full_new, runs, res_reused, runs);
	return 0;
}

struct page {
	char p[PAGE_MAX];
	size_t len;
};

static int
keep_page(void *arg, const char *p, size_t n, struct err *e)
{
	struct page *pg = arg;

	if (n > sizeof(pg->p) - pg->len)
		n = sizeof(pg->p) - pg->len;
	memcpy(pg->p + pg->len, p, n);
	pg->len += n;
	return 0;
}

static int
get_once(struct http_client *c, const char *url, double *ms, enum seen *seen, struct err *e)
{
	static struct page pg;
	struct http_request rq = { .method = "GET", .url = url, .deadline = deadline_in_ms(10000) };
	struct http_response rs;
	struct arena *a = arena_new(1 << 20);
	double t0 = now_s();
	int rc;

	pg.len = 0;
	rc = http_do(c, &rq, &rs, keep_page, &pg, a, e);
	*ms = (now_s() - t0) * 1000;
	if (rc == 0 && rs.status != 200)
		rc = err_set(e, ERR_HTTP, "%s answered %d", url, rs.status);
	*seen = page_says(pg.p, pg.len);
	http_response_fini(&rs);
	arena_free(a);
	return rc;
}

static int
handshake_http(const char *url, const char *ca_file, int runs)
{
	struct http_config cfg = { .ca_file = ca_file,
		.ignore_proxy_env = true,
		.pool_conns_max = -1 };
	struct http_client *c;
	struct err e = { 0 };
	double fresh[RUNS_MAX], shared[RUNS_MAX], dummy;
	enum seen seen;
	int i, rc = 0, fresh_new = 0, reused = 0;

	for (i = 0; i < runs && rc == 0; i++) {
		double t0 = now_s();

		c = http_client_new(&cfg, &e);
		if (c == NULL) {
			rc = ERR_INVAL;
			break;
		}
		rc = get_once(c, url, &fresh[i], &seen, &e);
		http_client_free(c);
		fresh[i] = (now_s() - t0) * 1000; /* with the client's setup */
		fresh_new += seen == SEEN_NEW;
	}
	c = rc == 0 ? http_client_new(&cfg, &e) : NULL;
	if (c != NULL) {
		rc = get_once(c, url, &dummy, &seen, &e); /* loads the CA, primes the cache */
		for (i = 0; i < runs && rc == 0; i++) {
			rc = get_once(c, url, &shared[i], &seen, &e);
			reused += seen == SEEN_REUSED;
		}
		http_client_free(c);
	} else if (rc == 0) {
		rc = ERR_INVAL;
	}
	if (rc) {
		fprintf(stderr, "bench_http: https GET failed: %s\n", e.msg);
		return 1;
	}
	printf("https GET, a new connection each (pool off), %d runs each: ", runs);
	print_times("fresh client (full handshake, CA load)", fresh, runs);
	print_times(", one client (resumed)", shared, runs);
	printf("; the server saw %d/%d new, %d/%d resumed\n", fresh_new, runs, reused, runs);
	return 0;
}

static int
handshake(const char *url, const char *ca_file, int runs)
{
	struct arena *a = arena_new(1 << 16);
	struct err e = { 0 };
	struct url u;
	int rc;

	if (url_parse(url, &u, a, &e) != 0 || strcmp(u.scheme, "https") != 0) {
		fprintf(stderr, "bench_http: %s\n",
		    e.msg[0] ? e.msg : "handshake needs an https URL");
		arena_free(a);
		return 2;
	}
	rc = handshake_tls(&u, ca_file, runs);
	if (rc == 0)
		rc = handshake_http(url, ca_file, runs);
	arena_free(a);
	return rc;
}

/* ---- main --------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	const char *mode, *ca_file = NULL, *url = NULL;
	int i, runs = -1, bad = 0;

	if (argc < 2) {
		printf(
		    "bench_http: needs loopback servers; tools/bench.sh starts them and runs it\n");
		return 0;
	}
	mode = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca_file = argv[++i];
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (argv[i][0] != '-' && url == NULL)
			url = argv[i];
		else
			bad = 1;
	}
	if (bad || url == NULL ||
	    (strcmp(mode, "download") != 0 && strcmp(mode, "handshake") != 0)) {
		fprintf(stderr,
		    "usage: bench_http download|handshake [--ca-file F] [--runs N] URL\n");
		return 2;
	}
	if (runs < 0)
		runs = strcmp(mode, "download") == 0 ? 1 : 20;
	if (runs < 1)
		runs = 1;
	if (runs > RUNS_MAX)
		runs = RUNS_MAX;
	if (strcmp(mode, "download") == 0)
		return download(url, ca_file, runs);
	return handshake(url, ca_file, runs);
}
