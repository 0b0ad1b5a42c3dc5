/*
 * pbtool.c -- drives the envd protobuf encoders and decoders of src/backends/e2b/envd/ from
 * the command line, for tests/net/test_proto_compat.py (which checks them against the
 * upstream .proto files with `protoc --decode` / `protoc --encode`).
 *
 *   pbtool encode start COMMAND [CWD [TAG [K=V...]]]   StartRequest, stdin=false
 *   pbtool encode start-stdin COMMAND                 StartRequest, stdin=true
 *   pbtool encode argv ARG0 [ARG...]                  StartRequest without bash
 *   pbtool encode signal PID SIGNAL                   SendSignalRequest
 *   pbtool encode selector PID                        ConnectRequest / CloseStdinRequest
 *   pbtool encode input PID HEXDATA                   SendInputRequest
 *   pbtool encode path PATH                           Stat/MakeDir/RemoveRequest
 *   pbtool encode move SRC DST                        MoveRequest
 *   pbtool encode listdir PATH DEPTH                  ListDirRequest
 *       -> the binary message on stdout
 *   pbtool decode event|entry|listdir|list < binary   -> one text line per item
 *
 * Exit status: 0, 1 on an encode/decode error (message on stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/e2b/envd/envd.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

static void
usage(void)
{
	fprintf(stderr, "usage: pbtool encode KIND ARGS... | pbtool decode KIND < message\n");
	exit(2);
}

static void
put_escaped(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '\\' || ch == '"')
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static size_t
unhex(const char *s, char *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned v;

		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (char)v;
	}
	return n;
}

static int
encode(int argc, char **argv, struct buf *out, struct err *e)
{
	const char *kind = argv[0];

	if ((strcmp(kind, "start") == 0 || strcmp(kind, "start-stdin") == 0) && argc >= 2) {
		struct envd_start_req rq = { .command = argv[1] };
		struct kv env[16];
		size_t nenv = 0;

		rq.stdin_open = strcmp(kind, "start-stdin") == 0;
		rq.cwd = argc >= 3 && *argv[2] ? argv[2] : NULL;
		rq.tag = argc >= 4 && *argv[3] ? argv[3] : NULL;
		for (int i = 4; i < argc && nenv < 16; i++) {
			char *eq = strchr(argv[i], '=');

			if (!eq)
				usage();
			*eq = '\0';
			env[nenv++] = (struct kv){ argv[i], eq + 1 };
		}
		rq.env = env;
		rq.nenv = nenv;
		return envd_pb_start_request(out, &rq, e);
	}
	if (strcmp(kind, "argv") == 0 && argc >= 2) {
		struct envd_start_req rq = { .argv = (const char *const *)argv + 1,
			.argc = (size_t)argc - 1 };

		return envd_pb_start_request(out, &rq, e);
	}
	if (strcmp(kind, "signal") == 0 && argc == 3)
		return envd_pb_signal_request(out, (uint32_t)strtoul(argv[1], NULL, 10),
		    atoi(argv[2]), e);
	if (strcmp(kind, "selector") == 0 && argc == 2)
		return envd_pb_selector_request(out, (uint32_t)strtoul(argv[1], NULL, 10), e);
	if (strcmp(kind, "input") == 0 && argc == 3) {
		char *data = malloc(strlen(argv[2]) / 2 + 1);
		size_t n = unhex(argv[2], data);
		int rc = envd_pb_input_request(out, (uint32_t)strtoul(argv[1], NULL, 10), data, n,
		    e);

		free(data);
		return rc;
	}
	if (strcmp(kind, "path") == 0 && argc == 2)
		return envd_pb_path_request(out, argv[1], e);
	if (strcmp(kind, "move") == 0 && argc == 3)
		return envd_pb_move_request(out, argv[1], argv[2], e);
	if (strcmp(kind, "listdir") == 0 && argc == 3)
		return envd_pb_list_dir_request(out, argv[1], (uint32_t)strtoul(argv[2], NULL, 10),
		    e);
	usage();
	return 2;
}

static const char *
type_name(enum file_type t)
{
	return t == FILE_T_FILE   ? "file"
	    : t == FILE_T_DIR     ? "dir"
	    : t == FILE_T_SYMLINK ? "symlink"
	                          : "other";
}

static void
print_entry(const struct file_entry *f)
{
	printf("name=%s type=%s path=%s size=%lld mode=%o mtime_ms=%lld link=%s\n", f->name,
	    type_name(f->type), f->path, (long long)f->size, f->mode, (long long)f->modified_at,
	    f->link_target ? f->link_target : "-");
}

static int
decode(const char *kind, const char *p, size_t n, struct arena *a, struct err *e)
{
	if (strcmp(kind, "event") == 0) {
		struct envd_event ev;
		struct buf scratch;
		int rc;

		buf_init(&scratch, 0);
		rc = envd_pb_event(p, n, &ev, &scratch, e);
		if (rc == 0) {
			switch (ev.type) {
			case ENVD_EV_START:
				printf("start pid=%u\n", ev.pid);
				break;
			case ENVD_EV_STDOUT:
			case ENVD_EV_STDERR:
			case ENVD_EV_PTY:
				printf("%s len=%zu data=\"",
				    ev.type == ENVD_EV_STDOUT       ? "stdout"
				        : ev.type == ENVD_EV_STDERR ? "stderr"
				                                    : "pty",
				    ev.len);
				put_escaped(ev.data, ev.len);
				printf("\"\n");
				break;
			case ENVD_EV_END:
				printf("end exit_code=%d exited=%d status=\"%s\" error=\"%s\"\n",
				    ev.exit_code, ev.exited, ev.status, ev.error);
				break;
			case ENVD_EV_KEEPALIVE:
				printf("keepalive\n");
				break;
			default:
				printf("none\n");
				break;
			}
		}
		buf_fini(&scratch);
		return rc;
	}
	if (strcmp(kind, "entry") == 0) {
		struct file_entry f;

		if (envd_pb_entry_response(p, n, &f, a, e))
			return e->code;
		print_entry(&f);
		return 0;
	}
	if (strcmp(kind, "listdir") == 0) {
		struct file_list fl;

		if (envd_pb_list_dir_response(p, n, 1000, &fl, a, e))
			return e->code;
		for (size_t i = 0; i < fl.n; i++)
			print_entry(&fl.items[i]);
		printf("count=%zu truncated=%d\n", fl.n, fl.truncated);
		return 0;
	}
	if (strcmp(kind, "list") == 0) {
		struct envd_proc *ps;
		size_t np;

		if (envd_pb_list_response(p, n, &ps, &np, a, e))
			return e->code;
		for (size_t i = 0; i < np; i++)
			printf("pid=%u command=\"%s\" tag=%s\n", ps[i].pid, ps[i].command,
			    ps[i].tag ? ps[i].tag : "-");
		printf("count=%zu\n", np);
		return 0;
	}
	usage();
	return 2;
}

int
main(int argc, char **argv)
{
	struct err e = { 0 };
	struct arena *a = arena_new(64 * 1024 * 1024);
	struct buf b;
	int rc;

	if (argc < 3)
		usage();
	buf_init(&b, 0);
	if (strcmp(argv[1], "encode") == 0) {
		rc = encode(argc - 2, argv + 2, &b, &e);
		if (rc == 0 && b.len)
			fwrite(b.p, 1, b.len, stdout);
	} else if (strcmp(argv[1], "decode") == 0) {
		char chunk[65536];
		ssize_t k;

		while ((k = read(0, chunk, sizeof chunk)) > 0)
			buf_append(&b, chunk, (size_t)k, NULL);
		rc = decode(argv[2], b.p ? b.p : "", b.len, a, &e);
	} else {
		usage();
		rc = 2;
	}
	if (rc)
		fprintf(stderr, "pbtool: %s\n", e.msg);
	buf_fini(&b);
	arena_free(a);
	return rc ? 1 : 0;
}
