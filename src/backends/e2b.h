/*
 * e2b.h -- the E2B / OpenKruise agents backend: sandbox-manager's management REST API,
 *          sandbox traffic routing, and envd (backends/e2b/envd/envd.h) inside each sandbox.
 *
 * Wire truth: shared/reference/e2b/BRIEF.md; the feature set is that of the Go client
 * openkruise/agents-api (packages e2b and runtime).
 *
 * Configuration (struct config; main.c fills it, flags over environment):
 *   api_key       X-API-Key for the management API (X_API_KEY, then E2B_API_KEY). Never
 *                 sent to envd.
 *   domain        default "e2b.app" (the E2B SDKs' default; the Go client has only a
 *                 placeholder).
 *   scheme        default https; http in runtime-direct mode (the Go runtime client's
 *                 default, for in-cluster gateways).
 *   routing       native (default): API https://api.DOMAIN, envd https://PORT-ID.DOMAIN;
 *                 private: DOMAIN/kruise/api and DOMAIN/kruise/ID/PORT.
 *   api_url       explicit management base; wins over domain and routing.
 *   sandbox_url   explicit envd base; wins over domain and routing. With the management
 *                 API it is the Go e2b client's SandboxBaseURL (envd at URL/ID); in
 *                 runtime-direct mode it is the runtime client's (one gateway URL for every
 *                 sandbox, routed by the e2b-sandbox-id / e2b-sandbox-port headers). A
 *                 "{id}" (and "{port}") in it is replaced in both modes.
 *   sandbox, access_token
 *                 runtime-direct mode when there is no api_key and no api_url: no
 *                 management API; every exec and file tool works on this sandbox with this
 *                 envd token (X_ACCESS_TOKEN). Without sandbox_url and routing, envd is
 *                 reached in header mode at SCHEME://DOMAIN (the Go runtime client);
 *                 the domain (or sandbox_url) is then required, never defaulted.
 *   k8s           NAMESPACE/NAME of an agents.kruise.io/v1alpha1 Sandbox: its
 *                 agents.kruise.io/sandbox-id label (else NAMESPACE--NAME) is the sandbox
 *                 id and its agents.kruise.io/runtime-access-token annotation the envd
 *                 token. The Kubernetes API is found as the Go client does: $KUBECONFIG,
 *                 then ~/.kube/config, then the in-cluster service account. Kubeconfig
 *                 users may authenticate with token, tokenFile, a client certificate
 *                 (client-certificate + client-key files, relative to the kubeconfig, or
 *                 the -data forms; mutual TLS), username/password, or nothing; exec and
 *                 auth-provider plugins are refused with a sentence.
 *   envd_port     envd's port inside the sandbox (the Go clients' RuntimePort), used in
 *                 every routing mode (PORT-ID.DOMAIN, /kruise/ID/PORT, {port}, the
 *                 e2b-sandbox-port header); 0 = 49983.
 *   user          envd user for processes (Authorization: Basic USER:) and /files
 *                 (username=USER); unset: neither is sent and envd uses its default.
 *   headers       extra headers on every request (management and envd).
 *   timeout_s     bound of one management or unary envd request; streams (exec) have
 *                 a connect timeout and an idle timeout instead, so long commands live.
 *
 * Network: network_policy maps to E2B's egress model: default deny is
 *          allow_internet_access=false (kruise stores it as denyOut 0.0.0.0/0), allow rules
 *          (IPs, CIDRs, domains) win over deny rules (IPs and CIDRs only: a domain deny
 *          rule is refused with a sentence). Set at create, and changed later through
 *          PUT /sandboxes/ID/network, which replaces the rules: a merge reads the current
 *          policy first. A manager without that route gets a sentence saying the policy
 *          can only be set at create. Runtime-direct mode has no network tool.
 *
 * Owns:    the backend state: an HTTP client (pool), the envd tokens of the sandboxes it
 *          has seen, the background-process table, the network policies it set (kruise's
 *          GET does not tell everything). ops->free releases it; sandboxes outlive the
 *          process.
 * Borrows: cfg only during e2b_backend_new(); every string is copied.
 * Errors:  e2b_backend_new() fails on a bad configuration or a failed --k8s lookup. Ops
 *          follow backends/backend.h; kruise's status codes and ApiError bodies become one
 *          sentence by the rule of backends/common/rest.h (a 404 about a sandbox
 *          ERR_NOTFOUND, any other 404 ERR_BACKEND; 400 ERR_INVAL; 401, 403, 409, 429 and
 *          5xx ERR_BACKEND; 405 ERR_UNSUPPORTED; the rest as rest.h lists them; an answer
 *          that is not JSON ERR_PROTO), never carrying the API key or a token. Pausing a
 *          paused sandbox (409) is a success.
 * Threads: ops may run concurrently from any thread; the caches are locked inside.
 */
#ifndef BACKENDS_E2B_H
#define BACKENDS_E2B_H

#include "backends/backend.h"
#include "config.h"
#include "util/err.h"

#define E2B_DEFAULT_DOMAIN    "e2b.app"
#define E2B_DEFAULT_TEMPLATE  "code-interpreter" /* agents-api e2b/sandbox.go */
#define E2B_DEFAULT_TIMEOUT_S 300
#define E2B_RUNTIME_PORT      49983

int e2b_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e);

/* Resolves cfg->k8s (NAMESPACE/NAME) through the Kubernetes API and fills cfg->sandbox
 * and, when the Sandbox has one, cfg->access_token when they are unset, so the session's
 * default sandbox is that one. The two are heap copies the caller owns (main() frees them
 * at exit, through backends/registry.h's backend_prepare). No-op without cfg->k8s. */
int e2b_config_k8s(struct config *cfg, struct err *e);

#endif
