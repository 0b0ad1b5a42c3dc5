/*
 * registry.c -- the backend table (contract in registry.h): local, opensandbox, e2b.
 *
 * The order of the rows is the order of detection (opensandbox's environment wins over
 * e2b's) and of the names in sentences; local, the first row, is the default.
 */
#include "backends/registry.h"
#include "backends/local.h"
#if __has_include("backends/opensandbox.h")
#include "backends/opensandbox.h"
#define HAVE_OPENSANDBOX 1
#endif
#if __has_include("backends/e2b.h")
#include "backends/e2b.h"
#define HAVE_E2B 1
#endif
#include "net/http_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A set, non-empty environment variable, or NULL. */
static const char *
reg_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* ---- opensandbox ------------------------------------------------------------------ */

static const char *const os_secret_headers[] = {
	"OPEN-SANDBOX-API-KEY",    /* lifecycle API key */
	"X-EXECD-ACCESS-TOKEN",    /* execd token */
	"OPENSANDBOX-EGRESS-AUTH", /* egress sidecar token, from the endpoint's headers */
	NULL,
};

static bool
os_detect(void)
{
	return reg_env("OPEN_SANDBOX_DOMAIN") != NULL || reg_env("OPEN_SANDBOX_API_KEY") != NULL;
}

static void
os_settle(struct config *cfg)
{
	if (cfg->api_key == NULL)
		cfg->api_key = reg_env("OPEN_SANDBOX_API_KEY");
	if (cfg->domain == NULL)
		cfg->domain = reg_env("OPEN_SANDBOX_DOMAIN");
	if (cfg->scheme == NULL)
		cfg->scheme = reg_env("OPEN_SANDBOX_PROTOCOL");
}

/* ---- e2b ---------------------------------------------------------------------------- */

static const char *const e2b_secret_headers[] = {
	"X-API-Key",      /* management API key */
	"X-Access-Token", /* envd token */
	"E2B-API-Key",    /* the same, as other E2B clients spell them */
	"X-E2B-Access-Token",
	NULL,
};

static bool
e2b_detect(void)
{
	return reg_env("X_API_KEY") != NULL || reg_env("E2B_API_KEY") != NULL ||
	    reg_env("E2B_DOMAIN") != NULL || reg_env("E2B_API_URL") != NULL ||
	    reg_env("E2B_SANDBOX_URL") != NULL;
}

static void
e2b_settle(struct config *cfg)
{
	if (cfg->api_key == NULL)
		cfg->api_key = reg_env("X_API_KEY") != NULL ? reg_env("X_API_KEY")
		                                            : reg_env("E2B_API_KEY");
	if (cfg->domain == NULL)
		cfg->domain = reg_env("E2B_DOMAIN");
	if (cfg->scheme == NULL)
		cfg->scheme = reg_env("SCHEME");
	if (cfg->routing == NULL)
		cfg->routing = reg_env("PROTOCOL");
	if (cfg->api_url == NULL)
		cfg->api_url = reg_env("E2B_API_URL");
	if (cfg->sandbox_url == NULL)
		cfg->sandbox_url = reg_env("E2B_SANDBOX_URL");
}

#ifdef HAVE_E2B
/* --k8s NAMESPACE/NAME: the sandbox id and envd token from a Kubernetes Sandbox object. */
static int
e2b_prepare(struct config *cfg, char *owned[BACKEND_OWNED_MAX], struct err *e)
{
	const char *sb0 = cfg->sandbox, *tok0 = cfg->access_token;
	int rc;

	if (cfg->k8s == NULL)
		return 0;
	if ((rc = e2b_config_k8s(cfg, e)) != 0)
		return rc;
	/* Heap copies made by the resolution; the caller frees them at exit. */
	if (cfg->sandbox != sb0)
		owned[0] = (char *)cfg->sandbox;
	if (cfg->access_token != tok0)
		owned[1] = (char *)cfg->access_token;
	return 0;
}
#define E2B_PREPARE e2b_prepare
#define E2B_NEW     e2b_backend_new
#else
#define E2B_PREPARE NULL
#define E2B_NEW     NULL
#endif

#ifdef HAVE_OPENSANDBOX
#define OS_NEW opensandbox_backend_new
#else
#define OS_NEW NULL
#endif

/* ---- the table ---------------------------------------------------------------------- */

static const struct backend_entry backends[] = {
	{ "local", NULL, NULL, NULL, local_backend_new, NULL, local_describe, false },
	{ "opensandbox", os_detect, os_settle, NULL, OS_NEW, os_secret_headers, NULL, true },
	{ "e2b", e2b_detect, e2b_settle, E2B_PREPARE, E2B_NEW, e2b_secret_headers, NULL, true },
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct backend_entry *
backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++) {
		if (strcmp(backends[i].name, name) == 0)
			return &backends[i];
	}
	return NULL;
}

const struct backend_entry *
backend_detect(void)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++) {
		if (backends[i].detect != NULL && backends[i].detect())
			return &backends[i];
	}
	return &backends[0];
}

const char *
backend_names(char *out, size_t n)
{
	size_t i, len = 0;
	int w;

	if (n == 0)
		return out;
	out[0] = '\0';
	for (i = 0; i < NBACKENDS; i++) {
		w = snprintf(out + len, n - len, "%s%s",
		    i == 0                   ? ""
		        : i + 1 == NBACKENDS ? " or "
		                             : ", ",
		    backends[i].name);
		if (w < 0 || (size_t)w >= n - len) {
			out[len] = '\0'; /* whole names only */
			break;
		}
		len += (size_t)w;
	}
	return out;
}

void
backend_settle(const struct backend_entry *be, struct config *cfg)
{
	if (be->settle != NULL)
		be->settle(cfg);
}

int
backend_prepare(const struct backend_entry *be, struct config *cfg, char *owned[BACKEND_OWNED_MAX],
    struct err *e)
{
	return be->prepare != NULL ? be->prepare(cfg, owned, e) : 0;
}

int
backend_open(const struct backend_entry *be, const struct config *cfg, struct backend_handle *out,
    struct err *e)
{
	if (be->open == NULL)
		return err_set(e, ERR_UNSUPPORTED, "the %s backend is not part of this build",
		    be->name);
	return be->open(cfg, out, e);
}

void
backend_describe(const struct backend_entry *be, const struct config *cfg, struct buf *out)
{
	if (be->describe != NULL)
		be->describe(cfg, out);
}

int
backend_register_secrets(struct err *e)
{
	const char *const *h;
	size_t i;
	int rc;

	for (i = 0; i < NBACKENDS; i++) {
		for (h = backends[i].secret_headers; h != NULL && *h != NULL; h++) {
			if ((rc = http_log_secret_header(*h)) != 0)
				return err_set(e, rc,
				    "the %s backend's header %s cannot be "
				    "registered for redaction in the debug log: %s",
				    backends[i].name, *h,
				    rc == ERR_TOOBIG
				        ? "the table is full "
				          "(raise HTTP_LOG_SECRET_HEADERS_MAX in net/http_log.h)"
				        : "the name is empty or too long");
		}
	}
	return 0;
}
