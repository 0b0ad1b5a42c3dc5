/*
 * kube.h -- a minimal Kubernetes API client: finds the API server and its credentials as
 *           client-go does, and reads one object as JSON.
 *
 * Where: $KUBECONFIG (a ':' list: the first file that exists), then ~/.kube/config, then
 *          the in-cluster service account (KUBERNETES_SERVICE_HOST/_PORT, the token and
 *          ca.crt under /var/run/secrets/kubernetes.io/serviceaccount). A kubeconfig is
 *          read with k8s/yaml.h (at most 1 MiB); its current-context names the cluster
 *          (server, certificate-authority or -data, insecure-skip-tls-verify) and the user.
 *          Users authenticate with token, tokenFile, a client certificate (client-
 *          certificate + client-key files, relative to the kubeconfig, or the -data forms;
 *          mutual TLS), username/password, or nothing; exec and auth-provider plugins are
 *          refused with a sentence.
 *
 * Owns:    struct kube_conn: its strings are in the arena given to kube_locate(); a
 *          temporary file holding certificate-authority-data and the decoded client key
 *          are released by kube_conn_fini() (unlinked, wiped), which must run before that
 *          arena is freed and is safe on a zeroed or half-filled conn.
 * Borrows: paths and messages for the duration of a call; kube_get()'s results live in
 *          its arena `a`.
 * Errors:  0 or ERR_* with one sentence naming the kubeconfig (or the in-cluster account)
 *          and what to do: ERR_IO (a file cannot be read or written), ERR_INVAL (no usable
 *          context, cluster or credentials), ERR_UNSUPPORTED (plugin credentials), and
 *          net/http.h's errors for the request. A response with any status is not an error
 *          of kube_get(): the caller phrases 404s and refusals for its object.
 * Waits:   kube_get() is bounded by KUBE_TIMEOUT_MS.
 * Threads: none of its own; a conn belongs to the calling thread.
 */
#ifndef K8S_KUBE_H
#define K8S_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include "json/json.h"
#include "util/arena.h"
#include "util/err.h"

#define KUBE_TIMEOUT_MS 15000
#define KUBECONFIG_MAX  (1024 * 1024)

struct kube_conn {
	const char *server;
	const char *auth;    /* Authorization value, or NULL */
	const char *ca_file; /* or NULL: the system bundle */
	char ca_tmp[64];     /* a temporary file holding certificate-authority-data */
	bool insecure;
	const char *source; /* for messages: "kubeconfig /x", "in-cluster" */
	/* Client certificate (kubeconfig client-certificate / client-key files, or the
	 * decoded -data forms, which win; the key is wiped before the arena is freed). */
	const char *cert_file, *key_file;
	unsigned char *cert, *key;
	size_t cert_len, key_len;
};

/* Fills *k (zeroed first) from $KUBECONFIG, ~/.kube/config or the in-cluster account. */
int kube_locate(struct kube_conn *k, struct arena *a, struct err *e);
/* Removes the CA temporary file and wipes the client key. */
void kube_conn_fini(struct kube_conn *k);

struct kube_resp {
	int status;           /* the HTTP status */
	const struct json *j; /* the body as JSON, or NULL when it is not JSON */
	const char *message;  /* the Status "message", else an excerpt of the body */
};

/* GETs path (already escaped, e.g. "/api/v1/namespaces/x") on k's server; insecure
 * skips certificate checks as k->insecure does. A failed request's sentence starts with
 * "<what> (<k->source>): ". */
int kube_get(const struct kube_conn *k, bool insecure, const char *path, const char *what,
    struct kube_resp *out, struct arena *a, struct err *e);

#endif
