/*
 * opensandbox.h -- the Alibaba OpenSandbox backend: lifecycle REST, execd, egress sidecar.
 *
 * Wire truth: shared/reference/opensandbox/BRIEF.md (the real server wins over the specs).
 *
 * Owns:    the backend state (an HTTP client with its connection pool, a cache of resolved
 *          execd/egress endpoints, the background commands this process started); the
 *          handle's ops->free releases it. Sandboxes outlive the process.
 * Borrows: cfg only during opensandbox_backend_new(); every string it needs is copied.
 * Errors:  opensandbox_backend_new() fails only on a bad configuration (bad domain or
 *          api_url, bad --header, a proxy setting the HTTP client refuses), with one
 *          sentence in e. Ops follow backends/backend.h; their sentences carry the
 *          server's status, code and message (or the 422 detail) and never the API key.
 * Threads: ops may run concurrently from any thread; the caches are locked inside.
 */
#ifndef BACKENDS_OPENSANDBOX_H
#define BACKENDS_OPENSANDBOX_H

#include "backends/backend.h"
#include "config.h"
#include "util/err.h"

/* Lifecycle API defaults (BRIEF §1): OPEN_SANDBOX_DOMAIN's default and the service ports. */
#define OPENSANDBOX_DEFAULT_DOMAIN "localhost:8080"
#define OPENSANDBOX_EXECD_PORT     44772
#define OPENSANDBOX_EGRESS_PORT    18080

int opensandbox_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e);

#endif
