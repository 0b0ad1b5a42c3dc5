/*
 * kube.c -- the Kubernetes API client (k8s/kube.h): kubeconfig and in-cluster
 * credentials, and one GET.
 */
#include "k8s/kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s/yaml.h"
#include "net/http.h"
#include "net/url.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

/* The entry of a kubeconfig list (clusters, users, contexts) with that name. */
static const struct yaml_node *
ynamed(const struct yaml_node *root, const char *list, const char *name, const char *inner)
{
	const struct yaml_node *l = yaml_get(root, list);

	for (const struct yaml_node *it = l != NULL && l->kind == YAML_SEQ ? l->child : NULL;
	     it != NULL; it = it->next) {
		const char *n = yaml_str(it, "name");

		if (n != NULL && name != NULL && strcmp(n, name) == 0)
			return yaml_get(it, inner);
	}
	return NULL;
}

static char *
read_file(const char *path, size_t max, size_t *len, struct arena *a)
{
	FILE *f = fopen(path, "rb");
	char *p;
	size_t n;

	if (f == NULL)
		return NULL;
	p = arena_alloc(a, max + 1);
	n = p != NULL ? fread(p, 1, max + 1, f) : 0;
	fclose(f);
	if (p == NULL || n > max)
		return NULL;
	p[n] = '\0';
	if (len != NULL)
		*len = n;
	return p;
}

static char *
trim_token(char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Relative file names in a kubeconfig are relative to its directory. */
static const char *
kc_path(const char *kcfile, const char *p, struct arena *a)
{
	const char *slash = strrchr(kcfile, '/');

	if (p == NULL || p[0] == '/' || slash == NULL)
		return p;
	return arena_printf(a, "%.*s/%s", (int)(slash - kcfile), kcfile, p);
}

/* The decoded base64 of a kubeconfig *-data field; NULL with *e set when it is not. */
static unsigned char *
kc_data(const char *file, const char *field, const char *v, size_t *len, struct arena *a,
    struct err *e)
{
	size_t n = strlen(v);
	unsigned char *p = arena_alloc(a, b64_decoded_max(n) + 1);
	ssize_t pl = p != NULL ? b64_decode(v, n, p) : -1;

	if (pl <= 0) {
		err_set(e, ERR_INVAL, "the kubeconfig %s: %s is not base64", file, field);
		return NULL;
	}
	*len = (size_t)pl;
	return p;
}

/* users[].user's client certificate and key: both or neither (kubectl's rule). */
static int
kubeconfig_cert(const char *file, const struct yaml_node *us, struct kube_conn *k, struct arena *a,
    struct err *e)
{
	const char *cd = yaml_str(us, "client-certificate-data");
	const char *kd = yaml_str(us, "client-key-data");
	const char *cf = yaml_str(us, "client-certificate"), *kf = yaml_str(us, "client-key");
	bool has_cert = cd != NULL || cf != NULL, has_key = kd != NULL || kf != NULL;

	if (!has_cert && !has_key)
		return 0;
	if (!has_cert || !has_key)
		return err_set(e, ERR_INVAL,
		    "the kubeconfig %s gives a client %s without its %s; "
		    "set both client-certificate(-data) and client-key(-data)",
		    file, has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
	if (cd != NULL) {
		k->cert = kc_data(file, "client-certificate-data", cd, &k->cert_len, a, e);
		if (k->cert == NULL)
			return e->code;
	} else {
		k->cert_file = kc_path(file, cf, a);
	}
	if (kd != NULL) {
		k->key = kc_data(file, "client-key-data", kd, &k->key_len, a, e);
		if (k->key == NULL)
			return e->code;
	} else {
		k->key_file = kc_path(file, kf, a);
	}
	if (str_has_prefix(k->server, "http://"))
		log_msg(LOG_WARN, "k8s",
		    "the kubeconfig %s gives a client certificate, but its "
		    "server is http://, so the certificate is not used",
		    file);
	return 0;
}

static int
kubeconfig_load(const char *file, struct kube_conn *k, struct arena *a, struct err *e)
{
	char *text = read_file(file, KUBECONFIG_MAX, NULL, a);
	const struct yaml_node *root, *ctx, *cl, *us;
	const char *cur, *v;
	int rc;

	if (text == NULL)
		return err_set(e, ERR_IO, "cannot read the kubeconfig %s (or it is over 1 MiB)",
		    file);
	root = yaml_parse(text, a);
	if (root == NULL || root->kind != YAML_MAP)
		return err_set(e, ERR_INVAL,
		    "the kubeconfig %s is not a YAML mapping this reader "
		    "understands",
		    file);
	cur = yaml_str(root, "current-context");
	ctx = ynamed(root, "contexts", cur, "context");
	if (cur == NULL || ctx == NULL)
		return err_set(e, ERR_INVAL,
		    "the kubeconfig %s has no current-context (or it names "
		    "no context); run kubectl config use-context",
		    file);
	cl = ynamed(root, "clusters", yaml_str(ctx, "cluster"), "cluster");
	us = ynamed(root, "users", yaml_str(ctx, "user"), "user");
	if (cl != NULL)
		k->server = yaml_str(cl, "server");
	if (cl == NULL || k->server == NULL)
		return err_set(e, ERR_INVAL, "the kubeconfig %s: cluster %s has no server", file,
		    yaml_str(ctx, "cluster") != NULL ? yaml_str(ctx, "cluster") : "(none)");
	k->source = arena_printf(a, "kubeconfig %s", file);
	v = yaml_str(cl, "insecure-skip-tls-verify");
	k->insecure = v != NULL && strcmp(v, "true") == 0;
	k->ca_file = kc_path(file, yaml_str(cl, "certificate-authority"), a);
	if ((v = yaml_str(cl, "certificate-authority-data")) != NULL) {
		size_t n = strlen(v);
		unsigned char *pem = arena_alloc(a, b64_decoded_max(n) + 1);
		ssize_t pl = pem != NULL ? b64_decode(v, n, pem) : -1;
		int fd;

		if (pl < 0)
			return err_set(e, ERR_INVAL,
			    "the kubeconfig %s: certificate-authority-data is "
			    "not base64",
			    file);
		snprintf(k->ca_tmp, sizeof(k->ca_tmp), "%s/sandbox-mcp-k8s-ca-XXXXXX",
		    getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 30 ? getenv("TMPDIR") : "/tmp");
		fd = mkstemp(k->ca_tmp);
		if (fd < 0 || write(fd, pem, (size_t)pl) != pl) {
			if (fd >= 0)
				close(fd);
			return err_set(e, ERR_IO,
			    "cannot write the cluster CA to a temporary file");
		}
		close(fd);
		k->ca_file = k->ca_tmp;
	}
	if (us != NULL) {
		if ((rc = kubeconfig_cert(file, us, k, a, e)) != 0)
			return rc;
		if ((yaml_get(us, "exec") != NULL || yaml_get(us, "auth-provider") != NULL) &&
		    yaml_str(us, "token") == NULL && yaml_str(us, "tokenFile") == NULL &&
		    k->cert == NULL && k->cert_file == NULL)
			return err_set(e, ERR_UNSUPPORTED,
			    "the kubeconfig %s authenticates with an "
			    "exec or auth-provider plugin, which sandbox-mcp does not run; use a "
			    "token (kubectl create token ...) or a client certificate",
			    file);
		if ((v = yaml_str(us, "token")) != NULL) {
			k->auth = arena_printf(a, "Bearer %s", v);
		} else if ((v = yaml_str(us, "tokenFile")) != NULL) {
			char *t = read_file(kc_path(file, v, a), 64 * 1024, NULL, a);

			if (t == NULL)
				return err_set(e, ERR_IO,
				    "cannot read the token file %s of kubeconfig %s", v, file);
			k->auth = arena_printf(a, "Bearer %s", trim_token(t));
		} else if (yaml_str(us, "username") != NULL && yaml_str(us, "password") != NULL) {
			const char *up = arena_printf(a, "%s:%s", yaml_str(us, "username"),
			    yaml_str(us, "password"));
			char *b64 = arena_alloc(a, b64_encoded_len(strlen(up)) + 1);

			if (b64 != NULL) {
				b64_encode((const unsigned char *)up, strlen(up), b64);
				k->auth = arena_printf(a, "Basic %s", b64);
			}
		}
	}
	return 0;
}

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static int
kube_incluster(struct kube_conn *k, struct arena *a, struct err *e)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *tok;

	if (host == NULL || *host == '\0')
		return err_set(e, ERR_INVAL,
		    "--k8s needs a Kubernetes API: set KUBECONFIG, create "
		    "~/.kube/config, or run in a pod (KUBERNETES_SERVICE_HOST is not set)");
	tok = read_file(K8S_SA_DIR "/token", 64 * 1024, NULL, a);
	if (tok == NULL)
		return err_set(e, ERR_IO,
		    "cannot read the service account token in " K8S_SA_DIR
		    "; mount one (automountServiceAccountToken) or use a kubeconfig");
	k->auth = arena_printf(a, "Bearer %s", trim_token(tok));
	k->ca_file = K8S_SA_DIR "/ca.crt";
	k->server = arena_printf(a, strchr(host, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s",
	    host, port != NULL && *port ? port : "443");
	k->source = "the in-cluster service account";
	return 0;
}

/* $KUBECONFIG -> ~/.kube/config -> in-cluster (agents-api runtime/k8s.go). */
int
kube_locate(struct kube_conn *k, struct arena *a, struct err *e)
{
	const char *kc = getenv("KUBECONFIG"), *home = getenv("HOME");
	struct stat st;

	memset(k, 0, sizeof(*k));
	if (kc != NULL && *kc) {
		/* A list: the first file that exists holds the current context here. */
		char *list = arena_strdup(a, kc), *save = NULL;

		for (char *f = strtok_r(list, ":", &save); f != NULL;
		     f = strtok_r(NULL, ":", &save))
			if (stat(f, &st) == 0)
				return kubeconfig_load(f, k, a, e);
	}
	if (home != NULL && *home) {
		const char *f = arena_printf(a, "%s/.kube/config", home);

		if (f != NULL && stat(f, &st) == 0)
			return kubeconfig_load(f, k, a, e);
	}
	return kube_incluster(k, a, e);
}

void
kube_conn_fini(struct kube_conn *k)
{
	if (k->ca_tmp[0] != '\0')
		unlink(k->ca_tmp);
	if (k->key != NULL)
		explicit_bzero(k->key, k->key_len);
}

int
kube_get(const struct kube_conn *k, bool insecure, const char *path, const char *what,
    struct kube_resp *out, struct arena *a, struct err *e)
{
	struct http_config hc = { 0 };
	struct http_client *hcli = NULL;
	struct http_request rq = { 0 };
	struct http_response rs = { 0 };
	struct http_header h[2];
	const char *msg;
	char *url = NULL;
	int rc, nh = 0;

	memset(out, 0, sizeof(*out));
	hc.ca_file = k->ca_file;
	hc.insecure = k->insecure || insecure;
	hc.client_cert_file = k->cert_file;
	hc.client_key_file = k->key_file;
	hc.client_cert = k->cert;
	hc.client_cert_len = k->cert_len;
	hc.client_key = k->key;
	hc.client_key_len = k->key_len;
	hcli = http_client_new(&hc, e);
	if (hcli == NULL) {
		rc = e->code;
		goto out;
	}
	if ((rc = url_join(k->server, path, "https", &url, a, e)) != 0)
		goto out;
	if (k->auth != NULL)
		h[nh++] = (struct http_header){ "Authorization", k->auth };
	h[nh++] = (struct http_header){ "Accept", "application/json" };
	rq.method = "GET";
	rq.url = url;
	rq.headers = h;
	rq.nheaders = (size_t)nh;
	rq.deadline = deadline_in_ms(KUBE_TIMEOUT_MS);
	rq.body_max = 4 * 1024 * 1024;
	rc = http_do(hcli, &rq, &rs, NULL, NULL, a, e);
	if (rc != 0) {
		/* Messages are short (ERR_MSG_MAX): the source names the server, so drop the
		 * "GET <url>: " that http_do put first. */
		const char *cut = str_has_prefix(e->msg, "GET http") ? strstr(e->msg, ": ") : NULL;

		if (cut != NULL)
			memmove(e->msg, cut + 2, strlen(cut + 2) + 1);
		err_prefix(e, "%s (%s): ", what, k->source);
		goto out;
	}
	out->status = rs.status;
	out->j = rs.status == 200 || rs.body.len
	    ? json_parse(rs.body.p ? rs.body.p : "", rs.body.len, a, &(struct err){ 0 })
	    : NULL;
	msg = out->j != NULL ? json_get_str(out->j, "message") : NULL;
	out->message = msg != NULL ? msg
	                           : http_body_excerpt(rs.body.p ? rs.body.p : "", rs.body.len, a);
out:
	http_response_fini(&rs);
	http_client_free(hcli);
	return rc;
}
