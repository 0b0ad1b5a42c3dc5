/*
 * config.h -- the settled configuration: flags over environment over defaults.
 *
 * Owns:    every string (heap, from main.c); config_free() releases them.
 * Filled by config_load() in main.c; read-only afterwards and shared by all threads.
 * Backends read only their own fields; secrets (api_key, access_token) are registered with
 * log_add_secret() by config_load() so they can never reach a log line or a result.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_HEADERS_MAX 32
#define CONFIG_LIST_MAX 32

/* A repeatable flag's values, in order. */
struct config_list {
	const char *v[CONFIG_LIST_MAX];
	size_t n;
};

struct config {
	const char *backend;		/* "local", "opensandbox", "e2b" */
	const char *api_key;
	const char *domain;
	const char *scheme;		/* "http" / "https"; NULL = backend default */
	const char *routing;		/* e2b: "native" / "private" */
	const char *api_url;		/* explicit management/lifecycle base URL */
	const char *sandbox_url;	/* e2b: explicit envd base URL */
	bool use_server_proxy;		/* opensandbox */
	const char *sandbox;		/* attach to this sandbox as the default one */
	const char *access_token;	/* envd / execd runtime token */
	const char *k8s;		/* NAMESPACE/NAME */
	const char *user;		/* envd user */
	int envd_port;			/* e2b: envd (runtime) port in the sandbox; 0 = 49983 */
	const char *headers[CONFIG_HEADERS_MAX];	/* "K=V" */
	size_t nheaders;
	int timeout_s;			/* default per-request timeout */
	const char *ca_file;
	bool insecure;
	const char *tools;		/* "core", "all", or "a,b,c" */
	bool keep;
	const char *local_root;
	const char *local_isolation;	/* "namespaces" / "none" */
	struct config_list mounts;	/* local: "HOST:SANDBOX[:ro]" */
	const char *local_egress;	/* local: allow | deny | TARGET,... */
	struct config_list host_ports;	/* local: --local-host-port PORT */
	struct config_list resolves;	/* local: --local-resolve NAME=ADDR */
	const char *log_level;
	const char *template_name;	/* default template/image for the default sandbox */
};

#endif
