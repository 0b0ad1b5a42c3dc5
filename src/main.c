/*
 * main.c -- command line, configuration (flags over environment over defaults), backend
 * choice (asking the table in backends/registry.h), and the ways to run: the MCP stdio
 * server (default), `tools` (list them), `call TOOL [JSON]` (run one tool from a
 * terminal), and `doctor` (check the setup).
 *
 * stdout belongs to MCP in server mode; every message of ours goes to stderr.
 */
#include "backends/backend.h"
#include "backends/local.h"
#include "backends/registry.h"
#include "config.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "mcp/registry.h"
#include "mcp/server.h"
#include "tools/tool.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

enum arg_kind { A_STR, A_BOOL, A_INT, A_HEADER, A_LIST };

struct opt {
	const char *name;
	enum arg_kind kind;
	size_t off; /* offset in struct config */
	const char *group;
	const char *meta; /* value placeholder for --help */
	const char *env;  /* environment variables, for --help */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct opt opts[] = {
	{ "backend", A_STR, OFF(backend), "General", "local|opensandbox|e2b", "SANDBOX_MCP_BACKEND",
	    "platform to use; default: opensandbox when OPEN_SANDBOX_* is set, e2b when X_API_KEY/E2B_* is set, else local" },
	{ "tools", A_STR, OFF(tools), "General", "core|all|a,b,c", NULL,
	    "which tools are listed (default all; core is the ten most used)" },
	{ "sandbox", A_STR, OFF(sandbox), "General", "ID", "SANDBOX_MCP_SANDBOX",
	    "use this existing sandbox as the session's default one (it is never killed at exit)" },
	{ "template", A_STR, OFF(template_name), "General", "NAME", "SANDBOX_MCP_TEMPLATE",
	    "template or image for sandboxes created without one" },
	{ "keep", A_BOOL, OFF(keep), "General", NULL, NULL,
	    "keep the default sandbox at exit instead of killing it" },
	{ "timeout-s", A_INT, OFF(timeout_s), "General", "N", NULL,
	    "default timeout of one platform request, in seconds (default 60)" },
	{ "log-level", A_STR, OFF(log_level), "General", "LEVEL", "SANDBOX_MCP_LOG",
	    "stderr log level: debug, info, notice, warning (default), error" },

	{ "api-key", A_STR, OFF(api_key), "Platforms", "KEY",
	    "OPEN_SANDBOX_API_KEY, X_API_KEY, E2B_API_KEY", "platform API key (never logged)" },
	{ "domain", A_STR, OFF(domain), "Platforms", "HOST[:PORT]",
	    "OPEN_SANDBOX_DOMAIN, E2B_DOMAIN",
	    "platform domain (OpenSandbox default localhost:8080)" },
	{ "scheme", A_STR, OFF(scheme), "Platforms", "http|https", "OPEN_SANDBOX_PROTOCOL, SCHEME",
	    "URL scheme (https, except http for OpenSandbox's default domain)" },
	{ "api-url", A_STR, OFF(api_url), "Platforms", "URL", "E2B_API_URL",
	    "explicit management/lifecycle API base URL (overrides domain and routing)" },
	{ "header", A_HEADER, OFF(headers), "Platforms", "K=V", NULL,
	    "extra header on every platform request (repeatable)" },
	{ "ca-file", A_STR, OFF(ca_file), "Platforms", "PATH", "SSL_CERT_FILE, SSL_CERT_DIR",
	    "PEM bundle of trusted CAs (default: the system bundle)" },
	{ "insecure", A_BOOL, OFF(insecure), "Platforms", NULL, NULL,
	    "do not verify TLS certificates (dangerous; logged loudly)" },

	{ "use-server-proxy", A_BOOL, OFF(use_server_proxy), "OpenSandbox", NULL, NULL,
	    "reach execd and egress through the lifecycle server's proxy route" },
	{ "access-token", A_STR, OFF(access_token), "OpenSandbox and E2B", "TOKEN",
	    "X_ACCESS_TOKEN", "execd / envd access token for --sandbox (never logged)" },

	{ "routing", A_STR, OFF(routing), "E2B / OpenKruise", "native|private", "PROTOCOL",
	    "native: api.DOMAIN and PORT-ID.DOMAIN; private: DOMAIN/kruise/..." },
	{ "sandbox-url", A_STR, OFF(sandbox_url), "E2B / OpenKruise", "URL", "E2B_SANDBOX_URL",
	    "explicit envd base URL (runtime-direct use)" },
	{ "k8s", A_STR, OFF(k8s), "E2B / OpenKruise", "NAMESPACE/NAME", NULL,
	    "resolve the sandbox id and runtime token from a Kubernetes Sandbox object" },
	{ "envd-port", A_INT, OFF(envd_port), "E2B / OpenKruise", "N", NULL,
	    "envd port inside the sandbox (default 49983; the Go clients' RuntimePort)" },
	{ "user", A_STR, OFF(user), "E2B / OpenKruise", "NAME", NULL,
	    "envd user for processes and files (default: envd's default)" },

	{ "local-root", A_STR, OFF(local_root), "Local", "DIR", NULL,
	    "state directory (default $XDG_STATE_HOME/sandbox-mcp or ~/.local/state/sandbox-mcp)" },
	{ "local-isolation", A_STR, OFF(local_isolation), "Local", "namespaces|none", NULL,
	    "namespaces (default) or none (plain processes, no isolation; loudly logged)" },
	{ "mount", A_LIST, OFF(mounts), "Local", "HOST:SANDBOX[:ro]", NULL,
	    "a host directory inside every local sandbox, read-write or :ro (repeatable; the agent cannot add one)" },
	{ "local-egress", A_STR, OFF(local_egress), "Local", "allow|deny|TARGET,...", NULL,
	    "the most network any local sandbox may have: allow (default: the public internet), deny, or only these domains, *.wildcards, addresses and CIDRs" },
	{ "local-host-port", A_LIST, OFF(host_ports), "Local", "PORT", NULL,
	    "let sandboxes reach this machine's loopback PORT as host.internal:PORT (repeatable)" },
	{ "local-resolve", A_LIST, OFF(resolves), "Local", "NAME=ADDR", NULL,
	    "pin NAME to ADDR for sandboxes, like curl --resolve; a pinned address is never refused (repeatable)" },
};

static void
usage(FILE *f)
{
	const char *group = "";
	size_t i;

	fprintf(f,
	    "sandbox-mcp %s -- sandboxes for AI agents, as an MCP server on stdio\n\n"
	    "Usage:\n"
	    "  sandbox-mcp [options]                  serve MCP (JSON-RPC 2.0) on stdin/stdout\n"
	    "  sandbox-mcp [options] tools            list the tools this configuration offers\n"
	    "  sandbox-mcp [options] call TOOL [JSON] run one tool; output shows live on stderr,\n"
	    "                                         the result (JSON) goes to stdout\n"
	    "  sandbox-mcp [options] doctor           check the configuration and the platform\n"
	    "  sandbox-mcp --version | --help\n",
	    SANDBOX_MCP_VERSION);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const struct opt *o = &opts[i];
		char left[64];

		if (strcmp(group, o->group) != 0) {
			group = o->group;
			fprintf(f, "\n%s:\n", group);
		}
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->meta ? " " : "",
		    o->meta ? o->meta : "");
		fprintf(f, "  %-34s %s\n", left, o->help);
		if (o->env != NULL)
			fprintf(f, "  %-34s   env: %s\n", "", o->env);
	}
	fprintf(f,
	    "\nOther environment:\n"
	    "  OPEN_SANDBOX_API_KEY, OPEN_SANDBOX_DOMAIN  select the opensandbox backend\n"
	    "  X_API_KEY, E2B_API_KEY, E2B_DOMAIN         select the e2b backend\n"
	    "  HTTPS_PROXY, HTTP_PROXY, NO_PROXY          proxies for platform requests\n"
	    "  XDG_STATE_HOME                             base of the local state directory\n"
	    "  SANDBOX_MCP_PAGE_SIZE                      tools per tools/list page (default 100)\n"
	    "\nFlags override environment variables; environment overrides defaults.\n");
}

static void __attribute__((format(printf, 1, 2), noreturn)) die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sandbox-mcp: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see sandbox-mcp --help\n");
	exit(EXIT_USAGE);
}

static const struct opt *
find_opt(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static void
set_opt(struct config *cfg, const struct opt *o, const char *val)
{
	char *base = (char *)cfg + o->off;
	char *end;
	long n;

	switch (o->kind) {
	case A_STR:
		*(const char **)base = val;
		break;
	case A_BOOL:
		*(bool *)base = true;
		break;
	case A_INT:
		errno = 0;
		n = strtol(val, &end, 10);
		if (errno != 0 || *end != '\0' || n <= 0 || n > 86400 * 30)
			die_usage("--%s needs a whole positive number, not '%s'", o->name, val);
		*(int *)base = (int)n;
		break;
	case A_HEADER:
		if (strchr(val, '=') == NULL || val[0] == '=')
			die_usage("--header needs NAME=VALUE, not '%s'", val);
		for (const char *c = val; *c; c++) {
			/* A line break would end the header and start another one. The value
			 * may be a secret, so the sentence does not repeat it. */
			if ((unsigned char)*c < 0x20 || *c == 0x7F)
				die_usage(
				    "--header %.*s: the header holds a control character (a line "
				    "break?); give the name and value on one line",
				    (int)strcspn(val, "="), val);
		}
		if (cfg->nheaders == CONFIG_HEADERS_MAX)
			die_usage("too many --header flags (the limit is %d)", CONFIG_HEADERS_MAX);
		cfg->headers[cfg->nheaders++] = val;
		break;
	case A_LIST:
		if (((struct config_list *)base)->n == CONFIG_LIST_MAX)
			die_usage("too many --%s flags (the limit is %d)", o->name,
			    CONFIG_LIST_MAX);
		((struct config_list *)base)->v[((struct config_list *)base)->n++] = val;
		break;
	}
}

/* Parses options; returns the index of the first non-option argument. */
static int
parse_args(int argc, char **argv, struct config *cfg)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *val = NULL;
		const struct opt *o;
		size_t nlen;

		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			fprintf(stdout, "sandbox-mcp %s\n", SANDBOX_MCP_VERSION);
			exit(0);
		}
		if (a[0] != '-')
			return i;
		if (a[1] != '-')
			die_usage("unknown option '%s'", a);
		eq = strchr(a + 2, '=');
		nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		o = find_opt(a + 2, nlen);
		if (o == NULL)
			die_usage("unknown option '%s'", a);
		if (o->kind == A_BOOL) {
			if (eq != NULL)
				die_usage("option '%s' takes no value", a);
		} else if (eq != NULL) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			die_usage("option '%s' needs a value", a);
		}
		set_opt(cfg, o, val);
	}
	return i;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Fills what the flags left unset from the environment and defaults, and checks values;
 * returns the chosen backend's row (backends/registry.h). */
static const struct backend_entry *
config_settle(struct config *cfg)
{
	const struct backend_entry *be;

	if (cfg->backend == NULL)
		cfg->backend = env("SANDBOX_MCP_BACKEND");
	if (cfg->backend == NULL)
		cfg->backend = backend_detect()->name;
	be = backend_find(cfg->backend);
	if (be == NULL) {
		char names[BACKEND_NAMES_MAX];

		die_usage("unknown backend '%s' (use %s)", cfg->backend,
		    backend_names(names, sizeof(names)));
	}
	backend_settle(be, cfg);
	if (cfg->access_token == NULL)
		cfg->access_token = env("X_ACCESS_TOKEN");
	if (cfg->sandbox == NULL)
		cfg->sandbox = env("SANDBOX_MCP_SANDBOX");
	if (cfg->template_name == NULL)
		cfg->template_name = env("SANDBOX_MCP_TEMPLATE");
	if (cfg->log_level == NULL)
		cfg->log_level = env("SANDBOX_MCP_LOG");
	if (cfg->tools == NULL)
		cfg->tools = "all";
	if (cfg->timeout_s == 0)
		cfg->timeout_s = 60;
	if (cfg->local_isolation == NULL)
		cfg->local_isolation = "namespaces";
	if (cfg->scheme != NULL && strcmp(cfg->scheme, "http") != 0 &&
	    strcmp(cfg->scheme, "https") != 0)
		die_usage("unknown scheme '%s' (use http or https)", cfg->scheme);
	if (cfg->routing != NULL && strcmp(cfg->routing, "native") != 0 &&
	    strcmp(cfg->routing, "private") != 0)
		die_usage("unknown routing '%s' (use native or private)", cfg->routing);
	if (strcmp(cfg->local_isolation, "namespaces") != 0 &&
	    strcmp(cfg->local_isolation, "none") != 0)
		die_usage("unknown local isolation '%s' (use namespaces or none)",
		    cfg->local_isolation);
	if (cfg->k8s != NULL && (strchr(cfg->k8s, '/') == NULL || cfg->k8s[0] == '/'))
		die_usage("--k8s needs NAMESPACE/NAME, not '%s'", cfg->k8s);
	if (cfg->log_level != NULL) {
		enum log_level l;

		if (log_level_parse(cfg->log_level, &l) != 0)
			die_usage(
			    "unknown log level '%s' (use debug, info, notice, warning or error)",
			    cfg->log_level);
		log_set_level(l);
	}
	if (cfg->api_key != NULL)
		log_add_secret(cfg->api_key);
	if (cfg->access_token != NULL)
		log_add_secret(cfg->access_token);
	for (size_t i = 0; i < cfg->nheaders; i++) {
		const char *v = strchr(cfg->headers[i], '=') + 1;

		if (strlen(v) >= 8)
			log_add_secret(v); /* header values are often tokens */
	}
	if (cfg->insecure)
		log_msg(LOG_WARN, "main",
		    "--insecure: TLS certificates are NOT verified; "
		    "anyone on the network path can read and change platform traffic");
	return be;
}

/* `tools` ---------------------------------------------------------------------------- */

static int
cmd_tools(const struct config *cfg, struct tools *t)
{
	struct err e = { 0 };
	struct registry *reg = registry_new(cfg->tools, t, &e);
	size_t i;

	if (reg == NULL) {
		fprintf(stderr, "sandbox-mcp: %s\n", e.msg);
		return EXIT_USAGE;
	}
	for (i = 0; i < registry_count(reg); i++) {
		const struct tool_def *d = registry_at(reg, i);
		const char *dot = strstr(d->description, ". ");
		int n = dot ? (int)(dot - d->description) : (int)strlen(d->description);

		fprintf(stdout, "%-20s %.*s\n", d->name, n, d->description);
	}
	registry_free(reg);
	return 0;
}

/* `call` ------------------------------------------------------------------------------ */

static void
call_output(void *arg, enum tool_stream s, const char *p, size_t n)
{
	(void)arg;
	(void)s;
	fwrite(p, 1, n, stderr);
	fflush(stderr);
}

static void
call_progress(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "sandbox-mcp: %s\n", msg);
}

static struct cancel *call_cancel;

static void
call_on_signal(int sig)
{
	(void)sig;
	cancel_fire(call_cancel);
}

static int
cmd_call(const struct config *cfg, struct tools *t, const char *name, const char *json)
{
	struct err e = { 0 };
	struct registry *reg = registry_new("all", t, &e);
	struct arena *a = arena_new(512u * 1024 * 1024);
	const struct tool_def *d;
	const struct json *args;
	struct tool_ctx ctx = { 0 };
	struct buf sc, text;
	struct jsonw w;
	struct sigaction sa = { 0 };
	int rc;

	(void)cfg;
	if (reg == NULL) {
		fprintf(stderr, "sandbox-mcp: %s\n", e.msg);
		return EXIT_USAGE;
	}
	d = registry_find(reg, name);
	if (d == NULL) {
		fprintf(stderr, "sandbox-mcp: unknown tool '%s'; `sandbox-mcp tools` lists them\n",
		    name);
		registry_free(reg);
		arena_free(a);
		return EXIT_USAGE;
	}
	args = json_parse(json ? json : "{}", json ? strlen(json) : 2, a, &e);
	if (args == NULL || args->type != JSON_OBJECT) {
		fprintf(stderr, "sandbox-mcp: the arguments must be one JSON object%s%s\n",
		    args == NULL ? ": " : "", args == NULL ? e.msg : "");
		registry_free(reg);
		arena_free(a);
		return EXIT_USAGE;
	}
	call_cancel = cancel_new();
	sa.sa_handler = call_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	buf_init(&sc, 256u * 1024 * 1024);
	buf_init(&text, 256u * 1024 * 1024);
	jsonw_init(&w, &sc);
	jsonw_obj_begin(&w);
	ctx.a = a;
	ctx.cancel = call_cancel;
	ctx.args = args;
	ctx.t = t;
	ctx.on_output = call_output;
	ctx.on_progress = call_progress;
	ctx.out = &w;
	ctx.text = &text;
	rc = registry_validate(reg, d, args, &e);
	if (rc == 0)
		rc = d->run(&ctx, &e);
	jsonw_obj_end(&w);
	if (rc != 0) {
		log_scrub(e.msg);
		fprintf(stderr, "sandbox-mcp: %s: %s\n", name, e.msg);
	} else {
		log_scrub(sc.p);
		fprintf(stdout, "%s\n", sc.p);
		if (ctx.is_error)
			rc = 1;
	}
	buf_fini(&sc);
	buf_fini(&text);
	registry_free(reg);
	arena_free(a);
	cancel_free(call_cancel);
	return rc == 0 ? 0 : 1;
}

/* `doctor` ----------------------------------------------------------------------------- */

/* Runs one tool quietly for `doctor`; returns 0 or the error in e. */
static int
doctor_run(struct tools *t, struct registry *reg, const char *name, const char *json,
    struct arena *a, struct err *e)
{
	const struct tool_def *d = registry_find(reg, name);
	struct tool_ctx ctx = { 0 };
	struct buf sc, text;
	struct jsonw w;
	int rc;

	if (d == NULL)
		return err_set(e, ERR_UNSUPPORTED, "%s is not available", name);
	buf_init(&sc, 16u * 1024 * 1024);
	buf_init(&text, 16u * 1024 * 1024);
	jsonw_init(&w, &sc);
	jsonw_obj_begin(&w);
	ctx.a = a;
	ctx.args = json_parse(json, strlen(json), a, NULL);
	ctx.t = t;
	ctx.out = &w;
	ctx.text = &text;
	rc = d->run(&ctx, e);
	if (rc == 0 && ctx.is_error)
		rc = err_set(e, ERR_BACKEND, "the command did not succeed: %s", sc.p);
	buf_fini(&sc);
	buf_fini(&text);
	return rc;
}

static int
cmd_doctor(const struct config *cfg, const struct backend_entry *be, struct tools *t)
{
	struct arena *a = arena_new(64u * 1024 * 1024);
	struct err e = { 0 };
	struct registry *reg = registry_new("all", t, &e);
	bool local = !be->remote;
	struct buf d = { 0 };
	int problems = 0;

	fprintf(stdout, "backend: %s\n", tools_backend_ops(t)->name);
	backend_describe(be, cfg, &d);
	if (d.p != NULL)
		fputs(d.p, stdout);
	buf_fini(&d);
	if (cfg->domain != NULL)
		fprintf(stdout, "domain: %s\n", cfg->domain);
	if (cfg->api_url != NULL)
		fprintf(stdout, "api url: %s\n", cfg->api_url);
	if (!local)
		fprintf(stdout, "api key: %s\n", cfg->api_key != NULL ? "set (hidden)" : "not set");
	if (cfg->sandbox != NULL)
		fprintf(stdout, "default sandbox: %s\n", cfg->sandbox);
	if (reg == NULL) {
		fprintf(stdout, "problem: %s\n", e.msg);
		problems++;
	} else {
		fprintf(stdout, "tools: %zu available\n", registry_count(reg));
		if (!local && cfg->sandbox == NULL) {
			if (doctor_run(t, reg, "sandbox_list", "{\"limit\":1}", a, &e) != 0) {
				log_scrub(e.msg);
				fprintf(stdout, "problem: %s\n", e.msg);
				problems++;
			} else {
				fprintf(stdout,
				    "ok: the platform answered (listing sandboxes works)\n");
			}
		}
		if (local || cfg->sandbox != NULL) {
			err_clear(&e);
			if (doctor_run(t, reg, "exec", "{\"command\":\"true\",\"timeout_s\":60}", a,
			        &e) != 0) {
				log_scrub(e.msg);
				fprintf(stdout, "problem: running a command failed: %s\n", e.msg);
				problems++;
			} else {
				fprintf(stdout, "ok: a command ran in %s\n",
				    cfg->sandbox != NULL ? cfg->sandbox
				                         : "a new sandbox (removed again)");
			}
		}
		registry_free(reg);
	}
	arena_free(a);
	fprintf(stdout, problems ? "%d problem(s) found\n" : "everything looks fine\n", problems);
	return problems ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct config cfg = { 0 };
	const struct backend_entry *be;
	struct backend_handle bh = { 0 };
	struct err e = { 0 };
	struct tools *t;
	const char *cmd;
	char *owned[BACKEND_OWNED_MAX] = { NULL, NULL };
	int first, rc;

	/* A local sandbox's supervisor: this binary re-executed, before anything else. */
	if (argc >= 2 && strcmp(argv[1], LOCAL_SUPERVISOR_ARG) == 0)
		return local_supervisor_main(argc, argv);
	first = parse_args(argc, argv, &cfg);
	be = config_settle(&cfg);
	cmd = first < argc ? argv[first] : NULL;
	if (cmd != NULL && strcmp(cmd, "tools") != 0 && strcmp(cmd, "call") != 0 &&
	    strcmp(cmd, "doctor") != 0 && strcmp(cmd, "serve") != 0)
		die_usage("unknown command '%s' (use tools, call or doctor, or none to serve MCP)",
		    cmd);
	if (cmd != NULL && strcmp(cmd, "call") == 0 && (first + 1 >= argc || first + 3 < argc))
		die_usage("%s", "call needs a tool name and at most one JSON argument object");
	if (cmd != NULL && strcmp(cmd, "call") != 0 && first + 1 < argc)
		die_usage("unexpected argument '%s'", argv[first + 1]);

	/* Before any thread starts: the redaction table is not locked (net/http_log.h). */
	if (backend_register_secrets(&e) != 0 || backend_prepare(be, &cfg, owned, &e) != 0 ||
	    backend_open(be, &cfg, &bh, &e) != 0) {
		log_scrub(e.msg);
		fprintf(stderr, "sandbox-mcp: %s\n", e.msg);
		return 1;
	}
	t = tools_new(&cfg, bh);
	if (cmd == NULL || strcmp(cmd, "serve") == 0)
		rc = server_run(&cfg, t, STDIN_FILENO, STDOUT_FILENO);
	else if (strcmp(cmd, "tools") == 0)
		rc = cmd_tools(&cfg, t);
	else if (strcmp(cmd, "call") == 0)
		rc = cmd_call(&cfg, t, argv[first + 1], first + 2 < argc ? argv[first + 2] : NULL);
	else
		rc = cmd_doctor(&cfg, be, t);
	tools_free(t);
	for (size_t i = 0; i < BACKEND_OWNED_MAX; i++)
		free(owned[i]);
	return rc;
}
