/*
 * osctl.c -- drives the OpenSandbox backend directly, one op per run, for tests.
 *
 * Usage: osctl [--domain D] [--api-key K] [--scheme S] [--api-url U] [--use-server-proxy]
 *              [--access-token T] [--timeout-s N] OP ARGS...
 * Prints one JSON object per line on stdout (events as {"event":...}, then the result
 * {"rc":N,"error":"...",...}); exits 0 when the op returned 0.
 *
 * OPs: create [IMAGE [NET_DEFAULT [ALLOW,..]]] | info ID | list [STATE|-] [CURSOR|-] [LIMIT]
 *      [K=V] | kill ID | pause ID | resume ID | renew ID SECS | url ID PORT | metrics ID |
 *      exec ID CMD [TIMEOUT_MS] [bg|fg] [CANCEL_AFTER_MS|-] [STDIN] [CWD] [K=V] |
 *      out ID PID OFFSET WAIT_MS MAX | ps ID | pkill ID PID | code ID CODE [CTX] |
 *      read ID PATH OFFSET MAX | write ID PATH DATA [MODE] | ls ID PATH DEPTH |
 *      stat ID PATH | mkdir ID PATH | mv ID SRC DST | rm ID PATH | search ID PATH PAT |
 *      netget ID | netset ID merge|replace DEFAULT|- ALLOW,.. DENY,..
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/opensandbox.h"
#include "json/jsonw.h"
#include "util/time.h"

static struct cancel *cancel_tok;
static int cancel_after_ms = -1;

static void
out_line(struct buf *b)
{
	fwrite(b->p, 1, b->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	buf_reset(b);
}

static int
on_event(void *arg, const struct exec_event *ev)
{
	struct buf b = { 0 };
	struct jsonw w;

	(void)arg;
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "event",
	    ev->type == EXEC_EV_START        ? "start"
	        : ev->type == EXEC_EV_STDOUT ? "stdout"
	                                     : "stderr");
	if (ev->type == EXEC_EV_START)
		jsonw_kstr(&w, "pid", ev->pid);
	else
		jsonw_kstrn(&w, "data", ev->data, ev->len);
	jsonw_obj_end(&w);
	out_line(&b);
	buf_fini(&b);
	return 0;
}

/* Counts output instead of printing it (for big outputs): "exec-count". */
static uint64_t counted;

static int
on_count(void *arg, const struct exec_event *ev)
{
	(void)arg;
	if (ev->type != EXEC_EV_START)
		counted += ev->len;
	return 0;
}

static void *
canceller(void *arg)
{
	(void)arg;
	usleep((useconds_t)cancel_after_ms * 1000);
	cancel_fire(cancel_tok);
	return NULL;
}

static const char **
split(struct arena *a, const char *s, size_t *n)
{
	const char **v = arena_zalloc(a, 64 * sizeof(*v));
	char *d, *tok, *save = NULL;

	*n = 0;
	if (s == NULL || *s == '\0' || strcmp(s, "-") == 0)
		return v;
	d = arena_strdup(a, s);
	for (tok = strtok_r(d, ",", &save); tok && *n < 64; tok = strtok_r(NULL, ",", &save))
		v[(*n)++] = tok;
	return v;
}

static void
write_info(struct jsonw *w, const struct sb_info *in)
{
	jsonw_kstr(w, "id", in->id);
	jsonw_kstr(w, "state", in->state);
	jsonw_kstr(w, "template", in->template_name);
	jsonw_kint(w, "created_at", in->created_at);
	jsonw_kint(w, "expires_at", in->expires_at);
	jsonw_kstr(w, "note", in->note);
	jsonw_key(w, "metadata");
	jsonw_obj_begin(w);
	for (size_t i = 0; i < in->nmetadata; i++)
		jsonw_kstr(w, in->metadata[i].key, in->metadata[i].value);
	jsonw_obj_end(w);
}

static void
write_policy(struct jsonw *w, const struct net_policy *np)
{
	jsonw_kstr(w, "default", np->default_action == 1 ? "allow" : "deny");
	jsonw_key(w, "allow");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < np->nallow; i++)
		jsonw_str(w, np->allow[i]);
	jsonw_arr_end(w);
	jsonw_key(w, "deny");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < np->ndeny; i++)
		jsonw_str(w, np->deny[i]);
	jsonw_arr_end(w);
}

static const char *
arg(int argc, char **argv, int i)
{
	return i < argc ? argv[i] : NULL;
}

int
main(int argc, char **argv)
{
	struct config cfg = { 0 };
	struct backend_handle be;
	struct err e = { 0 };
	struct arena *a = arena_new(256u << 20);
	struct call c = { .a = a, .deadline = DEADLINE_NONE };
	struct buf ob = { 0 };
	struct jsonw w;
	const char *op;
	int i = 1, rc = 0;
	pthread_t th;

	cfg.backend = "opensandbox";
	cfg.timeout_s = 30;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
			cfg.domain = argv[++i];
		else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc)
			cfg.api_key = argv[++i];
		else if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc)
			cfg.scheme = argv[++i];
		else if (strcmp(argv[i], "--api-url") == 0 && i + 1 < argc)
			cfg.api_url = argv[++i];
		else if (strcmp(argv[i], "--access-token") == 0 && i + 1 < argc)
			cfg.access_token = argv[++i];
		else if (strcmp(argv[i], "--timeout-s") == 0 && i + 1 < argc)
			cfg.timeout_s = atoi(argv[++i]);
		else if (strcmp(argv[i], "--deadline-ms") == 0 && i + 1 < argc)
			c.deadline = deadline_in_ms(atoi(argv[++i]));
		else if (strcmp(argv[i], "--use-server-proxy") == 0)
			cfg.use_server_proxy = true;
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: osctl [options] OP ARGS...\n");
		return 2;
	}
	op = argv[i++];
	if (opensandbox_backend_new(&cfg, &be, &e) != 0) {
		fprintf(stderr, "osctl: %s\n", e.msg);
		return 1;
	}
	cancel_tok = cancel_new();
	c.cancel = cancel_tok;
	jsonw_init(&w, &ob);
	jsonw_obj_begin(&w);
	const char *id = arg(argc, argv, i);
	if (strcmp(op, "create") == 0) {
		struct sb_create r = { .auto_pause = -1, .secure = -1 };
		struct net_policy np = { .default_action = -1 };
		struct sb_info info;
		struct kv md[1] = { { "team", "e2e" } };

		r.template_name = arg(argc, argv, i);
		r.metadata = md;
		r.nmetadata = 1;
		if (arg(argc, argv, i + 1) != NULL) {
			np.default_action = strcmp(argv[i + 1], "allow") == 0;
			np.allow = split(a, arg(argc, argv, i + 2), &np.nallow);
			r.network = &np;
		}
		if ((rc = be.ops->create(be.b, &r, &info, &c, &e)) == 0)
			write_info(&w, &info);
	} else if (strcmp(op, "info") == 0) {
		struct sb_info info;

		if ((rc = be.ops->info(be.b, id, &info, &c, &e)) == 0)
			write_info(&w, &info);
	} else if (strcmp(op, "list") == 0) {
		struct sb_list_req r = { 0 };
		struct sb_list l;
		struct kv md;

		r.states = split(a, arg(argc, argv, i), &r.nstates);
		r.cursor = arg(argc, argv, i + 1) && strcmp(argv[i + 1], "-") ? argv[i + 1] : NULL;
		r.limit = arg(argc, argv, i + 2) ? atoi(argv[i + 2]) : 0;
		if (arg(argc, argv, i + 3) != NULL) {
			char *kv = arena_strdup(a, argv[i + 3]), *eq = strchr(kv, '=');

			*eq = '\0';
			md = (struct kv){ kv, eq + 1 };
			r.metadata = &md;
			r.nmetadata = 1;
		}
		if ((rc = be.ops->list(be.b, &r, &l, &c, &e)) == 0) {
			jsonw_key(&w, "items");
			jsonw_arr_begin(&w);
			for (size_t k = 0; k < l.n; k++) {
				jsonw_obj_begin(&w);
				write_info(&w, &l.items[k]);
				jsonw_obj_end(&w);
			}
			jsonw_arr_end(&w);
			jsonw_kstr(&w, "next_cursor", l.next_cursor);
		}
	} else if (strcmp(op, "kill") == 0) {
		rc = be.ops->kill(be.b, id, &c, &e);
	} else if (strcmp(op, "pause") == 0) {
		rc = be.ops->pause(be.b, id, &c, &e);
	} else if (strcmp(op, "resume") == 0) {
		rc = be.ops->resume(be.b, id, &c, &e);
	} else if (strcmp(op, "renew") == 0) {
		int64_t exp = 0;

		if ((rc = be.ops->set_timeout(be.b, id, atoll(argv[i + 1]), &exp, &c, &e)) == 0)
			jsonw_kint(&w, "expires_at", exp);
	} else if (strcmp(op, "url") == 0) {
		struct sb_url u;

		if ((rc = be.ops->url(be.b, id, atoi(argv[i + 1]), &u, &c, &e)) == 0) {
			jsonw_kstr(&w, "url", u.url);
			jsonw_key(&w, "headers");
			jsonw_obj_begin(&w);
			for (size_t k = 0; k < u.nheaders; k++)
				jsonw_kstr(&w, u.headers[k].key, u.headers[k].value);
			jsonw_obj_end(&w);
		}
	} else if (strcmp(op, "metrics") == 0) {
		struct sb_metrics m;

		if ((rc = be.ops->metrics(be.b, id, &m, &c, &e)) == 0) {
			jsonw_kint(&w, "cpu_count", (int64_t)m.cpu_count);
			jsonw_kint(&w, "mem_total_bytes", m.mem_total_bytes);
		}
	} else if (strcmp(op, "exec") == 0 || strcmp(op, "exec-count") == 0) {
		struct exec_req r = { 0 };
		struct exec_result res;
		struct kv env;
		int64_t t0 = time_mono_ms();

		r.command = argv[i + 1];
		r.timeout_ms = arg(argc, argv, i + 2) ? atoll(argv[i + 2]) : 0;
		r.background = arg(argc, argv, i + 3) && strcmp(argv[i + 3], "bg") == 0;
		if (arg(argc, argv, i + 4) && strcmp(argv[i + 4], "-") != 0) {
			cancel_after_ms = atoi(argv[i + 4]);
			pthread_create(&th, NULL, canceller, NULL);
			pthread_detach(th);
		}
		if (arg(argc, argv, i + 5) && strcmp(argv[i + 5], "-") != 0) {
			r.stdin_data = argv[i + 5];
			r.stdin_len = strlen(argv[i + 5]);
		}
		if (arg(argc, argv, i + 6) && strcmp(argv[i + 6], "-") != 0)
			r.cwd = argv[i + 6];
		if (arg(argc, argv, i + 7)) {
			char *kv = arena_strdup(a, argv[i + 7]), *eq = strchr(kv, '=');

			*eq = '\0';
			env = (struct kv){ kv, eq + 1 };
			r.env = &env;
			r.nenv = 1;
		}
		rc = be.ops->exec(be.b, id, &r, strcmp(op, "exec") == 0 ? on_event : on_count, NULL,
		    &res, &c, &e);
		jsonw_kint(&w, "ms", time_mono_ms() - t0);
		if (rc == 0) {
			jsonw_kbool(&w, "exited", res.exited);
			jsonw_kint(&w, "exit_code", res.exit_code);
			jsonw_kbool(&w, "timed_out", res.timed_out);
			jsonw_kstr(&w, "pid", res.pid);
			jsonw_kstr(&w, "note", res.note);
			jsonw_kint(&w, "counted", (int64_t)counted);
		}
	} else if (strcmp(op, "out") == 0) {
		struct proc_output po;

		rc = be.ops->proc_output(be.b, id, argv[i + 1], strtoull(argv[i + 2], NULL, 10),
		    atoll(argv[i + 3]), strtoull(argv[i + 4], NULL, 10), &po, &c, &e);
		if (rc == 0) {
			jsonw_kstrn(&w, "output", po.data.p ? po.data.p : "", po.data.len);
			jsonw_kint(&w, "next_offset", (int64_t)po.next_offset);
			jsonw_kbool(&w, "running", po.running);
			jsonw_kbool(&w, "has_exit", po.has_exit);
			jsonw_kint(&w, "exit_code", po.exit_code);
		}
		buf_fini(&po.data);
	} else if (strcmp(op, "ps") == 0) {
		struct proc_info *pi;
		size_t n;

		if ((rc = be.ops->proc_list(be.b, id, &pi, &n, &c, &e)) == 0) {
			jsonw_key(&w, "processes");
			jsonw_arr_begin(&w);
			for (size_t k = 0; k < n; k++) {
				jsonw_obj_begin(&w);
				jsonw_kstr(&w, "pid", pi[k].pid);
				jsonw_kstr(&w, "command", pi[k].command);
				jsonw_kbool(&w, "running", pi[k].running);
				jsonw_obj_end(&w);
			}
			jsonw_arr_end(&w);
		}
	} else if (strcmp(op, "pkill") == 0) {
		rc = be.ops->proc_kill(be.b, id, argv[i + 1], 15, &c, &e);
	} else if (strcmp(op, "code") == 0) {
		struct code_req r = { .code = argv[i + 1], .context_id = arg(argc, argv, i + 2) };
		struct code_result cr;

		if (arg(argc, argv, i + 3)) {
			cancel_after_ms = atoi(argv[i + 3]);
			pthread_create(&th, NULL, canceller, NULL);
			pthread_detach(th);
		}
		if ((rc = be.ops->run_code(be.b, id, &r, on_event, NULL, &cr, &c, &e)) == 0) {
			jsonw_kbool(&w, "ok", cr.ok);
			jsonw_kstr(&w, "text", cr.text);
			jsonw_kstr(&w, "error_name", cr.error_name);
			jsonw_kstr(&w, "error_value", cr.error_value);
			jsonw_kint(&w, "execution_count", cr.execution_count);
		}
	} else if (strcmp(op, "read") == 0) {
		struct buf data = { 0 };
		int64_t size = -1;

		rc = be.ops->file_read(be.b, id, argv[i + 1], strtoull(argv[i + 2], NULL, 10),
		    strtoull(argv[i + 3], NULL, 10), &data, &size, &c, &e);
		if (rc == 0) {
			jsonw_kstrn(&w, "data", data.p ? data.p : "", data.len);
			jsonw_kint(&w, "size", size);
		}
		buf_fini(&data);
	} else if (strcmp(op, "write") == 0) {
		rc = be.ops->file_write(be.b, id, argv[i + 1], argv[i + 2], strlen(argv[i + 2]),
		    arg(argc, argv, i + 3) ? (uint32_t)strtoul(argv[i + 3], NULL, 8)
		                           : FILE_MODE_DEFAULT,
		    &c, &e);
	} else if (strcmp(op, "ls") == 0) {
		struct file_list l;

		if ((rc = be.ops->file_list(be.b, id, argv[i + 1], atoi(argv[i + 2]), &l, &c,
		         &e)) == 0) {
			jsonw_key(&w, "entries");
			jsonw_arr_begin(&w);
			for (size_t k = 0; k < l.n; k++) {
				jsonw_obj_begin(&w);
				jsonw_kstr(&w, "name", l.items[k].name);
				jsonw_kstr(&w, "path", l.items[k].path);
				jsonw_kint(&w, "type", l.items[k].type);
				jsonw_kint(&w, "size", l.items[k].size);
				jsonw_kint(&w, "mode", l.items[k].mode);
				jsonw_obj_end(&w);
			}
			jsonw_arr_end(&w);
		}
	} else if (strcmp(op, "stat") == 0) {
		struct file_entry fe;

		if ((rc = be.ops->file_stat(be.b, id, argv[i + 1], &fe, &c, &e)) == 0) {
			jsonw_kstr(&w, "path", fe.path);
			jsonw_kint(&w, "type", fe.type);
			jsonw_kint(&w, "size", fe.size);
			jsonw_kint(&w, "mode", fe.mode);
			jsonw_kint(&w, "modified_at", fe.modified_at);
		}
	} else if (strcmp(op, "mkdir") == 0) {
		bool created = false;

		if ((rc = be.ops->file_mkdir(be.b, id, argv[i + 1], &created, &c, &e)) == 0)
			jsonw_kbool(&w, "created", created);
	} else if (strcmp(op, "mv") == 0) {
		rc = be.ops->file_move(be.b, id, argv[i + 1], argv[i + 2], &c, &e);
	} else if (strcmp(op, "rm") == 0) {
		bool removed = false;

		if ((rc = be.ops->file_remove(be.b, id, argv[i + 1], &removed, &c, &e)) == 0)
			jsonw_kbool(&w, "removed", removed);
	} else if (strcmp(op, "search") == 0) {
		struct file_search s;

		if ((rc = be.ops->file_search(be.b, id, argv[i + 1], argv[i + 2], &s, &c, &e)) ==
		    0) {
			jsonw_key(&w, "matches");
			jsonw_arr_begin(&w);
			for (size_t k = 0; k < s.n; k++)
				jsonw_str(&w, s.matches[k]);
			jsonw_arr_end(&w);
		}
	} else if (strcmp(op, "netget") == 0) {
		struct net_policy np;

		if ((rc = be.ops->net_get(be.b, id, &np, &c, &e)) == 0)
			write_policy(&w, &np);
	} else if (strcmp(op, "netset") == 0) {
		struct net_policy r = { .default_action = -1 }, np;
		const char *d = argv[i + 2];

		if (strcmp(d, "-") != 0)
			r.default_action = strcmp(d, "allow") == 0;
		r.allow = split(a, arg(argc, argv, i + 3), &r.nallow);
		r.deny = split(a, arg(argc, argv, i + 4), &r.ndeny);
		if ((rc = be.ops->net_set(be.b, id, &r, strcmp(argv[i + 1], "replace") == 0, &np,
		         &c, &e)) == 0)
			write_policy(&w, &np);
	} else {
		fprintf(stderr, "osctl: unknown op %s\n", op);
		rc = 2;
	}
	jsonw_kint(&w, "rc", rc);
	if (rc != 0)
		jsonw_kstr(&w, "error", e.msg);
	jsonw_obj_end(&w);
	out_line(&ob);
	buf_fini(&ob);
	be.ops->free(be.b);
	cancel_free(cancel_tok);
	arena_free(a);
	return rc == 0 ? 0 : 1;
}
