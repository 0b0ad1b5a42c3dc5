/*
 * connectcall.c -- drives net/connect against a server, for tests/net/test_connect.py.
 *
 * Usage: connectcall [options] unary|stream BASE_URL PROCEDURE [PAYLOAD]
 *   PAYLOAD      request bytes as hex ("0a03666f6f"), or @FILE; default empty
 *   --timeout-ms N   call deadline (also sent as Connect-Timeout-Ms)
 *   --idle-ms N      idle timeout
 *   --max N          max_message
 *   --header "K: V"  extra request header (repeatable)
 *   --stop-after N   stream: return CONNECT_STOP from the N-th message
 *   --fail-after N   stream: return ERR_BACKEND from the N-th message
 *   --repeat N       make the call N times on one client (keep-alive)
 * Prints one JSON line per received message {"msg":"<hex>","len":N} and a last line
 * {"done":true,"rc":"<err name>","code":"<connect code>","message":..,"http_status":N,
 *  "remote":bool,"from_http":bool,"error":"<sentence>"}. Exit status 0, or 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jsonw.h"
#include "net/connect.h"
#include "util/time.h"

static long stop_after, fail_after, seen;

static void
print_line(struct buf *b)
{
	fwrite(b->p, 1, b->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	buf_reset(b);
}

static void
print_msg(const char *p, size_t n)
{
	struct buf b = { 0 }, hex = { 0 };
	struct jsonw w;
	size_t i;

	for (i = 0; i < n; i++)
		buf_printf(&hex, NULL, "%02x", (unsigned char)p[i]);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstrn(&w, "msg", hex.p ? hex.p : "", hex.len);
	jsonw_kint(&w, "len", (int64_t)n);
	jsonw_obj_end(&w);
	print_line(&b);
	buf_fini(&b);
	buf_fini(&hex);
}

static int
on_msg(void *arg, const char *p, size_t n, struct err *e)
{
	print_msg(p, n);
	seen++;
	if (stop_after > 0 && seen == stop_after)
		return CONNECT_STOP;
	if (fail_after > 0 && seen == fail_after)
		return err_set(e, ERR_BACKEND, "the reader gave up after %ld messages", seen);
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
load_payload(const char *arg, struct buf *out)
{
	size_t i, n;
	FILE *f;
	char tmp[65536];

	if (arg[0] == '@') {
		f = fopen(arg + 1, "rb");
		if (f == NULL)
			return -1;
		while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
			buf_append(out, tmp, n, NULL);
		fclose(f);
		return 0;
	}
	n = strlen(arg);
	if (n % 2 != 0)
		return -1;
	for (i = 0; i < n; i += 2) {
		int hi = hexval(arg[i]), lo = hexval(arg[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		buf_putc(out, (char)(hi << 4 | lo), NULL);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct http_header hdrs[16];
	struct connect_call call = { 0 };
	struct http_config cfg = { 0 };
	struct http_client *c;
	struct buf payload = { 0 }, resp = { 0 }, line = { 0 };
	struct err e = { 0 };
	long timeout_ms = -1, repeat = 1, r;
	const char *mode;
	int i = 1, rc;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--timeout-ms") == 0)
			timeout_ms = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--idle-ms") == 0)
			call.idle_timeout_ms = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--max") == 0)
			call.max_message = (size_t)atol(argv[i + 1]);
		else if (strcmp(argv[i], "--stop-after") == 0)
			stop_after = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--fail-after") == 0)
			fail_after = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--repeat") == 0)
			repeat = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--header") == 0 && call.nheaders < 16) {
			char *h = strdup(argv[i + 1]), *colon = strchr(h, ':');

			if (colon == NULL)
				goto usage;
			*colon++ = '\0';
			while (*colon == ' ')
				colon++;
			hdrs[call.nheaders++] = (struct http_header){ h, colon };
		} else
			goto usage;
	}
	if (argc - i < 3 || argc - i > 4)
		goto usage;
	mode = argv[i];
	call.base_url = argv[i + 1];
	call.procedure = argv[i + 2];
	call.headers = hdrs;
	if (argc - i == 4 && load_payload(argv[i + 3], &payload) != 0)
		goto usage;

	cfg.ignore_proxy_env = true;
	c = http_client_new(&cfg, &e);
	if (c == NULL) {
		fprintf(stderr, "connectcall: %s\n", e.msg);
		return 1;
	}
	for (r = 0; r < repeat; r++) {
		struct arena *a = arena_new(1 << 20);
		struct connect_status st;
		struct jsonw w;

		err_clear(&e);
		seen = 0;
		call.deadline = timeout_ms >= 0 ? deadline_in_ms(timeout_ms) : 0;
		if (strcmp(mode, "unary") == 0) {
			buf_reset(&resp);
			rc = connect_unary(c, &call, payload.p, payload.len, &resp, &st, a, &e);
			if (rc == 0)
				print_msg(resp.p ? resp.p : "", resp.len);
		} else if (strcmp(mode, "stream") == 0) {
			rc = connect_stream(c, &call, payload.p, payload.len, on_msg, NULL, &st, a,
			    &e);
		} else {
			goto usage;
		}
		jsonw_init(&w, &line);
		jsonw_obj_begin(&w);
		jsonw_kbool(&w, "done", true);
		jsonw_kstr(&w, "rc", err_name(rc));
		jsonw_kstr(&w, "code", connect_code_name(st.code));
		jsonw_kstr(&w, "message", st.message);
		jsonw_kint(&w, "http_status", st.http_status);
		jsonw_kbool(&w, "remote", st.remote);
		jsonw_kbool(&w, "from_http", st.from_http);
		jsonw_kstr(&w, "error", rc ? e.msg : "");
		jsonw_obj_end(&w);
		print_line(&line);
		arena_free(a);
	}
	http_client_free(c);
	buf_fini(&payload);
	buf_fini(&resp);
	buf_fini(&line);
	for (r = 0; r < (long)call.nheaders; r++)
		free((char *)hdrs[r].name);
	return 0;
usage:
	fprintf(stderr,
	    "usage: connectcall [--timeout-ms N] [--idle-ms N] [--max N] "
	    "[--header 'K: V'] [--stop-after N] [--fail-after N] [--repeat N] "
	    "unary|stream BASE_URL PROCEDURE [HEX|@FILE]\n");
	return 2;
}
