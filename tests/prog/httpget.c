/*
 * httpget.c -- a tiny command-line client over http_do(), for tests/net/test_http.py.
 *
 * Usage: httpget [options] URL
 *   -X METHOD            request method (GET)
 *   -H 'Name: value'     request header (repeatable)
 *   -d BODY | -d @FILE   request body (sent with Content-Length)
 *   --chunked N          send the -d body with the chunked producer, N bytes a piece
 *   --form name=value    multipart/form-data field (repeatable; builds the body)
 *   --form-file name=FILENAME=@PATH  multipart file part
 *   --ca-file F  --ca-dir D  --insecure
 *   --client-cert F  --client-key F          client certificate and key (files)
 *   --client-cert-mem F  --client-key-mem F  the same, read here and passed in memory
 *   --repeat N           send the same request N times on one client (keep-alive)
 *   --threads N          N threads, each doing the --repeat loop, sharing one client
 *   --flush              empty the pool between repeats
 *   --no-pool            pool_conns_max = -1
 *   --pool-idle-ms N     pool idle limit
 *   --timeout-ms N       per-request deadline
 *   --idle-ms N          per-request idle timeout
 *   --connect-timeout-ms N
 *   --body-max N         cap on the in-memory body
 *   --stream             take the body through on_body (counts the calls)
 *   --stop-after N       on_body returns HTTP_STOP once N bytes arrived
 *   --cancel-after-ms N  fire the cancel token after N ms
 *   --idempotent         mark the request idempotent (for POST retry tests)
 *   --sleep-ms N         sleep between repeats
 *   --debug              log level debug (stderr)
 *   --secret S           log_add_secret(S)
 *   --raw                print status, headers and body instead of JSON
 *   --no-proxy-env       ignore HTTP(S)_PROXY / NO_PROXY
 * Default output: one JSON line per request:
 *   {"status":200,"reason":"OK","version":1,"reused":false,"headers":[[k,v],...],
 *    "trailers":[...],"content_length":N,"body":"...","body_len":N,"chunks":N}
 *   or {"error":"sentence","code":"timeout"}.
 * Exit status: 0 when every request returned 0 from http_do, 1 otherwise, 2 on usage.
 * As in sandbox-mcp, the backends' secret headers (X-API-Key, ...) are registered for
 * the debug log's redaction first (backend_register_secrets(), backends/registry.h).
 */
#include "backends/registry.h"
#include "json/jsonw.h"
#include "net/http.h"
#include "util/log.h"
#include "util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADERS 64
#define MAX_FORM    32
#define MAX_THREADS 32

struct sink {
	struct buf body;
	size_t chunks;
	size_t stop_after;
};

struct producer {
	const char *p;
	size_t len, off, piece;
};

struct canceller {
	struct cancel *c;
	int ms;
};

/* What every request of a run uses; the worker threads share it read-only. */
static struct {
	struct http_client *c;
	const char *method, *url;
	const struct http_header *hdrs;
	size_t nhdrs;
	const char *body;
	size_t body_len, piece, body_max, stop_after;
	int repeat, timeout_ms, idle_ms, cancel_ms, sleep_ms;
	bool raw, stream, flush, idempotent;
	pthread_mutex_t lock; /* stdout and failures */
	int failures;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void print_result(int rc, const struct err *e, const struct http_response *rs,
    const struct sink *s, bool stream, bool raw);

static int
on_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct sink *s = arg;

	s->chunks++;
	if (buf_append(&s->body, p, n, e))
		return ERR_TOOBIG;
	if (s->stop_after > 0 && s->body.len >= s->stop_after)
		return HTTP_STOP;
	return 0;
}

static int
produce(void *arg, struct buf *out, struct err *e)
{
	struct producer *pr = arg;
	size_t n = pr->len - pr->off;

	if (n > pr->piece)
		n = pr->piece;
	if (n == 0)
		return 0;
	pr->off += n;
	return buf_append(out, pr->p + pr->off - n, n, e);
}

static void *
cancel_thread(void *arg)
{
	struct canceller *c = arg;

	usleep((useconds_t)c->ms * 1000);
	cancel_fire(c->c);
	return NULL;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char tmp[65536];
	size_t n;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	buf_init(&b, 0);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n, NULL);
	fclose(f);
	*len = b.len;
	if (b.p == NULL)
		return calloc(1, 1);
	return buf_steal(&b);
}

static void *
run_requests(void *unused)
{
	int i;

	for (i = 0; i < g.repeat; i++) {
		struct http_request rq = { 0 };
		struct http_response rs;
		struct producer pr = { g.body, g.body_len, 0, g.piece };
		struct sink s = { 0 };
		struct canceller cn = { 0 };
		struct arena *a = arena_new(16 << 20);
		struct err e = { 0 };
		pthread_t tid;
		int rc;

		rq.method = g.method;
		rq.url = g.url;
		rq.headers = g.hdrs;
		rq.nheaders = g.nhdrs;
		if (g.piece > 0) {
			rq.body_producer = produce;
			rq.producer_arg = &pr;
		} else {
			rq.body = g.body;
			rq.body_len = g.body_len;
		}
		rq.deadline = g.timeout_ms > 0 ? deadline_in_ms(g.timeout_ms) : 0;
		rq.idle_timeout_ms = g.idle_ms;
		rq.idempotent = g.idempotent;
		rq.body_max = g.body_max;
		if (g.cancel_ms > 0) {
			cn.c = cancel_new();
			cn.ms = g.cancel_ms;
			rq.cancel = cn.c;
			pthread_create(&tid, NULL, cancel_thread, &cn);
		}
		buf_init(&s.body, 0);
		s.stop_after = g.stop_after;
		rc = http_do(g.c, &rq, &rs, g.stream ? on_body : NULL, &s, a, &e);
		pthread_mutex_lock(&g.lock);
		if (rc)
			g.failures++;
		print_result(rc, &e, &rs, &s, g.stream, g.raw);
		pthread_mutex_unlock(&g.lock);
		http_response_fini(&rs);
		buf_fini(&s.body);
		if (cn.c != NULL) {
			pthread_join(tid, NULL);
			cancel_free(cn.c);
		}
		arena_free(a);
		if (g.flush)
			http_client_flush(g.c);
		if (g.sleep_ms > 0 && i + 1 < g.repeat)
			usleep((useconds_t)g.sleep_ms * 1000);
	}
	return unused;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: httpget [-X M] [-H 'K: V'] [-d BODY|@FILE] [--ca-file F] "
	    "[--insecure] [--repeat N] [--raw] URL (see the top of tests/prog/httpget.c)\n");
	exit(2);
}

static void
print_headers_json(struct jsonw *w, const char *key, const struct http_header *h, size_t n)
{
	size_t i;

	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (i = 0; i < n; i++) {
		jsonw_arr_begin(w);
		jsonw_str(w, h[i].name);
		jsonw_str(w, h[i].value);
		jsonw_arr_end(w);
	}
	jsonw_arr_end(w);
}

static void
print_result(int rc, const struct err *e, const struct http_response *rs, const struct sink *s,
    bool stream, bool raw)
{
	const struct buf *body = stream ? &s->body : &rs->body;
	struct buf out;
	struct jsonw w;
	size_t i;

	if (raw) {
		if (rc) {
			printf("error: %s: %s\n", err_name(rc), e->msg);
			return;
		}
		printf("status: %d %s\nreused: %d\n", rs->status, rs->reason, rs->reused);
		for (i = 0; i < rs->nheaders; i++)
			printf("%s: %s\n", rs->headers[i].name, rs->headers[i].value);
		printf("\n");
		fwrite(body->p ? body->p : "", 1, body->len, stdout);
		for (i = 0; i < rs->ntrailers; i++)
			printf("\ntrailer %s: %s", rs->trailers[i].name, rs->trailers[i].value);
		printf("\n");
		fflush(stdout);
		return;
	}
	buf_init(&out, 0);
	jsonw_init(&w, &out);
	jsonw_obj_begin(&w);
	if (rc) {
		jsonw_kstr(&w, "error", e->msg);
		jsonw_kstr(&w, "code", err_name(rc));
	} else {
		jsonw_kint(&w, "status", rs->status);
		jsonw_kstr(&w, "reason", rs->reason);
		jsonw_kint(&w, "version", rs->minor_version);
		jsonw_kbool(&w, "reused", rs->reused);
		print_headers_json(&w, "headers", rs->headers, rs->nheaders);
		print_headers_json(&w, "trailers", rs->trailers, rs->ntrailers);
		jsonw_kint(&w, "content_length", rs->content_length);
		jsonw_kstrn(&w, "body", body->p ? body->p : "", body->len);
		jsonw_kint(&w, "body_len", (int64_t)body->len);
		jsonw_kint(&w, "chunks", (int64_t)s->chunks);
	}
	jsonw_obj_end(&w);
	printf("%s\n", out.p);
	fflush(stdout);
	buf_fini(&out);
}

int
main(int argc, char **argv)
{
	struct http_config cfg = { 0 };
	struct http_header hdrs[MAX_HEADERS + 1];
	const char *forms[MAX_FORM], *form_files[MAX_FORM];
	size_t nhdrs = 0, nforms = 0, nfiles = 0, body_len = 0, piece = 0, body_max = 0;
	size_t stop_after = 0, nuser;
	const char *method = "GET", *url = NULL;
	char *body = NULL, *ccert = NULL, *ckey = NULL;
	int repeat = 1, timeout_ms = 0, idle_ms = 0, cancel_ms = 0, sleep_ms = 0, i;
	int nthreads = 1;
	bool raw = false, stream = false, flush = false, idempotent = false;
	struct buf mp_body;
	struct http_multipart mp;
	struct http_client *c;
	struct err e = { 0 };
	int failures = 0;

	if (backend_register_secrets(&e) != 0) {
		fprintf(stderr, "httpget: %s\n", e.msg);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define NEEDV()                  \
	do {                     \
		if (v == NULL)   \
			usage(); \
		i++;             \
	} while (0)
		if (strcmp(a, "-X") == 0) {
			NEEDV();
			method = v;
		} else if (strcmp(a, "-H") == 0) {
			char *h, *colon;

			NEEDV();
			if (nhdrs == MAX_HEADERS)
				usage();
			h = strdup(v);
			colon = strchr(h, ':');
			if (colon == NULL)
				usage();
			*colon = '\0';
			colon++;
			while (*colon == ' ')
				colon++;
			hdrs[nhdrs].name = h;
			hdrs[nhdrs++].value = colon;
		} else if (strcmp(a, "-d") == 0) {
			NEEDV();
			if (v[0] == '@') {
				body = read_file(v + 1, &body_len);
			} else {
				body = strdup(v);
				body_len = strlen(v);
			}
		} else if (strcmp(a, "--chunked") == 0) {
			NEEDV();
			piece = (size_t)atol(v);
		} else if (strcmp(a, "--form") == 0) {
			NEEDV();
			if (nforms < MAX_FORM)
				forms[nforms++] = v;
		} else if (strcmp(a, "--form-file") == 0) {
			NEEDV();
			if (nfiles < MAX_FORM)
				form_files[nfiles++] = v;
		} else if (strcmp(a, "--ca-file") == 0) {
			NEEDV();
			cfg.ca_file = v;
		} else if (strcmp(a, "--ca-dir") == 0) {
			NEEDV();
			cfg.ca_dir = v;
		} else if (strcmp(a, "--insecure") == 0) {
			cfg.insecure = true;
		} else if (strcmp(a, "--client-cert") == 0) {
			NEEDV();
			cfg.client_cert_file = v;
		} else if (strcmp(a, "--client-key") == 0) {
			NEEDV();
			cfg.client_key_file = v;
		} else if (strcmp(a, "--client-cert-mem") == 0) {
			NEEDV();
			free(ccert);
			ccert = read_file(v, &cfg.client_cert_len);
			cfg.client_cert = ccert;
		} else if (strcmp(a, "--client-key-mem") == 0) {
			NEEDV();
			free(ckey);
			ckey = read_file(v, &cfg.client_key_len);
			cfg.client_key = ckey;
		} else if (strcmp(a, "--repeat") == 0) {
			NEEDV();
			repeat = atoi(v);
		} else if (strcmp(a, "--threads") == 0) {
			NEEDV();
			nthreads = atoi(v);
			if (nthreads < 1 || nthreads > MAX_THREADS)
				usage();
		} else if (strcmp(a, "--flush") == 0) {
			flush = true;
		} else if (strcmp(a, "--no-pool") == 0) {
			cfg.pool_conns_max = -1;
		} else if (strcmp(a, "--pool-idle-ms") == 0) {
			NEEDV();
			cfg.pool_idle_ms = atoi(v);
		} else if (strcmp(a, "--timeout-ms") == 0) {
			NEEDV();
			timeout_ms = atoi(v);
		} else if (strcmp(a, "--idle-ms") == 0) {
			NEEDV();
			idle_ms = atoi(v);
		} else if (strcmp(a, "--connect-timeout-ms") == 0) {
			NEEDV();
			cfg.connect_timeout_ms = atoi(v);
		} else if (strcmp(a, "--body-max") == 0) {
			NEEDV();
			body_max = (size_t)atol(v);
		} else if (strcmp(a, "--stream") == 0) {
			stream = true;
		} else if (strcmp(a, "--stop-after") == 0) {
			NEEDV();
			stream = true;
			stop_after = (size_t)atol(v);
		} else if (strcmp(a, "--cancel-after-ms") == 0) {
			NEEDV();
			cancel_ms = atoi(v);
		} else if (strcmp(a, "--idempotent") == 0) {
			idempotent = true;
		} else if (strcmp(a, "--sleep-ms") == 0) {
			NEEDV();
			sleep_ms = atoi(v);
		} else if (strcmp(a, "--debug") == 0) {
			log_set_level(LOG_DEBUG);
		} else if (strcmp(a, "--secret") == 0) {
			NEEDV();
			log_add_secret(v);
		} else if (strcmp(a, "--raw") == 0) {
			raw = true;
		} else if (strcmp(a, "--no-proxy-env") == 0) {
			cfg.ignore_proxy_env = true;
		} else if (a[0] == '-' && a[1] != '\0') {
			usage();
		} else {
			url = a;
		}
#undef NEEDV
	}
	if (url == NULL)
		usage();

	nuser = nhdrs;
	buf_init(&mp_body, 0);
	if (nforms > 0 || nfiles > 0) {
		size_t k;

		if (http_multipart_begin(&mp, &mp_body, &e))
			goto fatal;
		for (k = 0; k < nforms; k++) {
			const char *eq = strchr(forms[k], '=');
			char *name = strndup(forms[k], eq ? (size_t)(eq - forms[k]) : 0);

			if (eq == NULL ||
			    http_multipart_part(&mp, name, NULL, NULL, eq + 1, strlen(eq + 1), &e))
				goto fatal;
			free(name);
		}
		for (k = 0; k < nfiles; k++) {
			/* name=FILENAME=@PATH */
			char *spec = strdup(form_files[k]), *fn, *path;
			size_t flen;
			char *data;

			fn = strchr(spec, '=');
			path = fn ? strstr(fn + 1, "=@") : NULL;
			if (path == NULL)
				usage();
			*fn++ = '\0';
			*path = '\0';
			path += 2;
			data = read_file(path, &flen);
			if (http_multipart_part(&mp, spec, fn, NULL, data, flen, &e))
				goto fatal;
			free(data);
			free(spec);
		}
		if (http_multipart_end(&mp, &e))
			goto fatal;
		hdrs[nhdrs].name = "Content-Type";
		hdrs[nhdrs++].value = mp.content_type;
		free(body);
		body = mp_body.p;
		body_len = mp_body.len;
		mp_body.p = NULL;
	}

	c = http_client_new(&cfg, &e);
	if (c == NULL)
		goto fatal;
	g.c = c;
	g.method = method;
	g.url = url;
	g.hdrs = hdrs;
	g.nhdrs = nhdrs;
	g.body = body;
	g.body_len = body_len;
	g.piece = piece;
	g.body_max = body_max;
	g.stop_after = stop_after;
	g.repeat = repeat;
	g.timeout_ms = timeout_ms;
	g.idle_ms = idle_ms;
	g.cancel_ms = cancel_ms;
	g.sleep_ms = sleep_ms;
	g.raw = raw;
	g.stream = stream;
	g.flush = flush;
	g.idempotent = idempotent;
	if (nthreads <= 1) {
		run_requests(NULL);
	} else {
		pthread_t tids[MAX_THREADS];

		for (i = 0; i < nthreads; i++)
			pthread_create(&tids[i], NULL, run_requests, NULL);
		for (i = 0; i < nthreads; i++)
			pthread_join(tids[i], NULL);
	}
	failures = g.failures;
	http_client_free(c);
	for (i = 0; i < (int)nuser; i++)
		free((char *)hdrs[i].name);
	free(body);
	free(ccert);
	free(ckey);
	buf_fini(&mp_body);
	return failures ? 1 : 0;
fatal:
	fprintf(stderr, "httpget: %s: %s\n", err_name(e.code), e.msg);
	return 2;
}
