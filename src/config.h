/*
 * config.h -- the settled configuration: flags over environment over defaults.
 *
 * Filled in main.c: parse_args() sets what the flags give, then config_settle() fills the
 * rest from the environment and defaults, asking the backend registry
 * (backends/registry.h) which backend the environment selects and which variables are
 * that backend's (backend_settle()); backend_prepare() may then complete it (e2b: --k8s
 * fills sandbox and access_token). Read-only once the backend is opened, and shared by
 * all threads.
 *
 * Owns:    nothing. Strings point into argv, the environment or string literals, and live
 *          as long as the process; the few a prepare step allocates are handed to main()
 *          in its owned[] array, which frees them after the backend and tools are freed.
 *
 * Backends read only their own fields. config_settle() registers the secrets (api_key,
 * access_token, --header values of 8 bytes or more) with log_add_secret(), and the e2b
 * --k8s lookup registers the token it finds, so they never reach a log line or a result.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_HEADERS_MAX 32
#define CONFIG_LIST_MAX    32

/* A repeatable flag's values, in order. */
struct config_list {
	const char *v[CONFIG_LIST_MAX];
	size_t n;
};

struct config {
	const char *backend; /* "local", "opensandbox", "e2b" */
	const char *api_key;
	const char *domain;
	const char *scheme;       /* "http" / "https"; NULL = backend default */
	const char *routing;      /* e2b: "native" / "private" */
	const char *api_url;      /* explicit management/lifecycle base URL */
	const char *sandbox_url;  /* e2b: explicit envd base URL */
	bool use_server_proxy;    /* opensandbox */
	const char *sandbox;      /* attach to this sandbox as the default one */
	const char *access_token; /* envd / execd runtime token */
	const char *k8s;          /* NAMESPACE/NAME */
	const char *user;         /* envd user */
	int envd_port;            /* e2b: envd (runtime) port in the sandbox; 0 = 49983 */
	const char *headers[CONFIG_HEADERS_MAX]; /* "K=V" */
	size_t nheaders;
	int timeout_s; /* default per-request timeout */
	const char *ca_file;
	bool insecure;
	const char *tools; /* "core", "all", or "a,b,c" */
	bool keep;
	const char *local_root;
	const char *local_isolation;   /* "namespaces" / "none" */
	struct config_list mounts;     /* local: "HOST:SANDBOX[:ro]" */
	const char *local_egress;      /* local: allow | deny | TARGET,... */
	struct config_list host_ports; /* local: --local-host-port PORT */
	struct config_list resolves;   /* local: --local-resolve NAME=ADDR */
	const char *log_level;
	const char *template_name; /* default template/image for the default sandbox */
};

#endif
