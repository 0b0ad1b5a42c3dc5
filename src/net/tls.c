/* tls.c -- mbedTLS 3.6 client: strict verification, poll()-driven I/O, resumption. */
#include "net/tls.h"
#include "net/sock.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#define TLS_KEY_MAX    300
#define TLS_SUITES_MAX 64
/* What one recv() may take: several 16 KiB records, so that a bulk download costs one
 * system call per 64 KiB instead of two per record (header, then body: mbedTLS asks for
 * exactly what it needs). */
#define TLS_READ_AHEAD (64 * 1024)

struct tls_sess {
	char key[TLS_KEY_MAX]; /* "host:port"; "" for a free slot */
	mbedtls_ssl_session s;
	uint64_t used; /* LRU clock */
};

struct tls_ctx {
	char *ca_file, *ca_dir;
	bool insecure;
	pthread_mutex_t lock; /* setup and the session cache */
	bool ready;
	bool seeded;
	const char *ca_source;
	char *ca_source_owned;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt ca;
	/* The client certificate: where it comes from, and once loaded, the parsed forms. */
	char *own_cert_file, *own_key_file;
	unsigned char *own_cert_buf, *own_key_buf; /* copies, NUL-terminated */
	size_t own_cert_len, own_key_len;
	bool own_loaded;
	mbedtls_x509_crt own_crt;
	mbedtls_pk_context own_key;
	mbedtls_ssl_config conf;
	struct tls_sess cache[TLS_SESSION_CACHE_MAX];
	uint64_t clock;
};

struct tls_conn {
	struct tls_ctx *ctx;
	mbedtls_ssl_context ssl;
	int fd;
	int sockerr;         /* errno of the last failed send/recv */
	unsigned char *rbuf; /* TLS_READ_AHEAD bytes read ahead from fd */
	size_t roff, rlen;   /* rbuf[roff..rlen) not yet given to mbedTLS */
	bool eof_clean;
	bool handshake_done;
	char key[TLS_KEY_MAX]; /* host:port, also for messages */
};

static const char *tls_alpn[] = { "http/1.1", NULL }; /* mbedTLS keeps the pointer */

/* Where distributions keep their bundles (Go's crypto/x509 root_linux.go, curl). */
static const char *const tls_system_files[] = {
	"/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Gentoo, Arch, Alpine */
	"/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL 6 */
	"/etc/ssl/ca-bundle.pem",             /* openSUSE */
	"/etc/pki/tls/cacert.pem",            /* OpenELEC */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* CentOS, RHEL 7+ */
	"/etc/ssl/cert.pem",                                 /* Alpine, macOS, OpenBSD */
	"/usr/local/etc/openssl/cert.pem",                   /* macOS Homebrew */
	"/usr/local/share/certs/ca-root-nss.crt",            /* FreeBSD */
};
static const char *const tls_system_dirs[] = {
	"/etc/ssl/certs", "/etc/pki/tls/certs", "/system/etc/security/cacerts", /* Android */
};

static unsigned char *
tls_copy(const void *p, size_t n)
{
	unsigned char *c = xmalloc(n + 1);

	memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

static pthread_once_t tls_psa_once = PTHREAD_ONCE_INIT;
static psa_status_t tls_psa_status;

static void
tls_psa_init(void)
{
	tls_psa_status = psa_crypto_init();
}

struct tls_ctx *
tls_ctx_new(const struct tls_options *o)
{
	struct tls_ctx *c = xcalloc(1, sizeof(*c));
	int i;

	if (o != NULL) {
		c->ca_file = o->ca_file != NULL && o->ca_file[0] ? xstrdup(o->ca_file) : NULL;
		c->ca_dir = o->ca_dir != NULL && o->ca_dir[0] ? xstrdup(o->ca_dir) : NULL;
		c->insecure = o->insecure;
		if (o->client_cert != NULL && o->client_cert_len > 0) {
			c->own_cert_buf = tls_copy(o->client_cert, o->client_cert_len);
			c->own_cert_len = o->client_cert_len;
		} else if (o->client_cert_file != NULL && o->client_cert_file[0]) {
			c->own_cert_file = xstrdup(o->client_cert_file);
		}
		if (o->client_key != NULL && o->client_key_len > 0) {
			c->own_key_buf = tls_copy(o->client_key, o->client_key_len);
			c->own_key_len = o->client_key_len;
		} else if (o->client_key_file != NULL && o->client_key_file[0]) {
			c->own_key_file = xstrdup(o->client_key_file);
		}
	}
	pthread_mutex_init(&c->lock, NULL);
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_init(&c->own_crt);
	mbedtls_pk_init(&c->own_key);
	mbedtls_ssl_config_init(&c->conf);
	for (i = 0; i < TLS_SESSION_CACHE_MAX; i++)
		mbedtls_ssl_session_init(&c->cache[i].s);
	return c;
}

void
tls_ctx_free(struct tls_ctx *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < TLS_SESSION_CACHE_MAX; i++)
		mbedtls_ssl_session_free(&c->cache[i].s);
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crt_free(&c->own_crt);
	mbedtls_pk_free(&c->own_key);
	if (c->own_key_buf != NULL)
		mbedtls_platform_zeroize(c->own_key_buf, c->own_key_len);
	free(c->own_key_buf);
	free(c->own_cert_buf);
	free(c->own_key_file);
	free(c->own_cert_file);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	pthread_mutex_destroy(&c->lock);
	free(c->ca_file);
	free(c->ca_dir);
	free(c->ca_source_owned);
	free(c);
}

static void
tls_strerror(int ret, char *out, size_t n)
{
	mbedtls_strerror(ret, out, n);
	/* mbedtls writes "SSL - Foo bar": keep the words after the module. */
	char *dash = strstr(out, " - ");

	if (dash != NULL)
		memmove(out, dash + 3, strlen(dash + 3) + 1);
}

static bool
tls_is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
tls_is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static size_t
tls_chain_len(const mbedtls_x509_crt *crt)
{
	size_t n = 0;

	for (; crt != NULL && crt->version != 0; crt = crt->next)
		n++;
	return n;
}

/* Adds the certificates of a file (dir false) or directory; true when the chain
 * gained at least one. A positive result from mbedTLS counts certificates that did
 * not parse (a bundle may hold some it does not support); the others were added. */
static bool
tls_add_certs(struct tls_ctx *c, const char *path, bool dir)
{
	size_t before = tls_chain_len(&c->ca);
	int r;

	r = dir ? mbedtls_x509_crt_parse_path(&c->ca, path)
	        : mbedtls_x509_crt_parse_file(&c->ca, path);
	(void)r;
	return tls_chain_len(&c->ca) > before;
}

/* An explicitly named bundle must load; the system ones are tried in order. */
static int
tls_load_ca(struct tls_ctx *c, struct err *e)
{
	const char *env_file = getenv("SSL_CERT_FILE"), *env_dir = getenv("SSL_CERT_DIR");
	size_t i;

	if (c->ca_file != NULL || c->ca_dir != NULL) {
		if (c->ca_file != NULL &&
		    !(tls_is_file(c->ca_file) && tls_add_certs(c, c->ca_file, false)))
			return err_set(e, ERR_TLS,
			    "cannot load CA certificates from %s: it "
			    "is not a readable PEM file of certificates: check --ca-file",
			    c->ca_file);
		if (c->ca_dir != NULL &&
		    !(tls_is_dir(c->ca_dir) && tls_add_certs(c, c->ca_dir, true)))
			return err_set(e, ERR_TLS,
			    "cannot load CA certificates from the "
			    "directory %s: it holds no readable PEM certificates",
			    c->ca_dir);
		c->ca_source = c->ca_file ? c->ca_file : c->ca_dir;
		return 0;
	}
	if ((env_file != NULL && env_file[0]) || (env_dir != NULL && env_dir[0])) {
		if (env_file != NULL && env_file[0] &&
		    !(tls_is_file(env_file) && tls_add_certs(c, env_file, false)))
			return err_set(e, ERR_TLS,
			    "cannot load CA certificates from "
			    "SSL_CERT_FILE=%s: it is not a readable PEM file of certificates",
			    env_file);
		if (env_dir != NULL && env_dir[0]) {
			/* SSL_CERT_DIR may list several directories, like OpenSSL's. */
			char *dirs = xstrdup(env_dir), *save = NULL, *d;
			bool any = false;

			for (d = strtok_r(dirs, ":", &save); d != NULL;
			     d = strtok_r(NULL, ":", &save))
				any |= tls_is_dir(d) && tls_add_certs(c, d, true);
			free(dirs);
			if (!any && c->ca.version == 0)
				return err_set(e, ERR_TLS,
				    "cannot load CA certificates from "
				    "SSL_CERT_DIR=%s: no readable PEM certificates there",
				    env_dir);
		}
		c->ca_source_owned = xstrdup(env_file != NULL && env_file[0] ? env_file : env_dir);
		c->ca_source = c->ca_source_owned;
		return 0;
	}
	for (i = 0; i < sizeof(tls_system_files) / sizeof(tls_system_files[0]); i++) {
		if (tls_is_file(tls_system_files[i]) &&
		    tls_add_certs(c, tls_system_files[i], false)) {
			c->ca_source = tls_system_files[i];
			return 0;
		}
	}
	for (i = 0; i < sizeof(tls_system_dirs) / sizeof(tls_system_dirs[0]); i++) {
		if (tls_is_dir(tls_system_dirs[i]) && tls_add_certs(c, tls_system_dirs[i], true)) {
			c->ca_source = tls_system_dirs[i];
			return 0;
		}
	}
	return err_set(e, ERR_TLS,
	    "no CA certificates found (looked at SSL_CERT_FILE, "
	    "SSL_CERT_DIR, /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/"
	    "ca-bundle.crt, /etc/ssl/cert.pem and others): install the ca-certificates "
	    "package or pass --ca-file");
}

static bool
tls_has_own(const struct tls_ctx *c)
{
	return c->own_cert_buf != NULL || c->own_cert_file != NULL || c->own_key_buf != NULL ||
	    c->own_key_file != NULL;
}

/* The length mbedTLS wants for a buffer: PEM data counts its terminating NUL. */
static size_t
tls_parse_len(const unsigned char *p, size_t n)
{
	return memmem(p, n, "-----BEGIN", 10) != NULL ? n + 1 : n;
}

/* Loads the client certificate and key, and checks that they belong together. */
static int
tls_load_own(struct tls_ctx *c, struct err *e)
{
	const char *cname = c->own_cert_file ? c->own_cert_file : "(given in memory)";
	const char *kname = c->own_key_file ? c->own_key_file : "(given in memory)";
	char msg[128];
	int r;

	if ((c->own_cert_buf == NULL && c->own_cert_file == NULL) ||
	    (c->own_key_buf == NULL && c->own_key_file == NULL))
		return err_set(e, ERR_TLS,
		    "a client certificate needs both the certificate and "
		    "its private key, and only the %s was given",
		    c->own_cert_buf != NULL || c->own_cert_file != NULL ? "certificate" : "key");
	if (c->own_cert_buf != NULL)
		r = mbedtls_x509_crt_parse(&c->own_crt, c->own_cert_buf,
		    tls_parse_len(c->own_cert_buf, c->own_cert_len));
	else
		r = tls_is_file(c->own_cert_file)
		    ? mbedtls_x509_crt_parse_file(&c->own_crt, c->own_cert_file)
		    : MBEDTLS_ERR_X509_FILE_IO_ERROR;
	if (r < 0 || tls_chain_len(&c->own_crt) == 0) {
		tls_strerror(r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT, msg, sizeof(msg));
		return err_set(e, ERR_TLS,
		    "cannot load the client certificate %s: %s; it must "
		    "be a readable PEM or DER certificate",
		    cname, msg);
	}
	if (c->own_key_buf != NULL)
		r = mbedtls_pk_parse_key(&c->own_key, c->own_key_buf,
		    tls_parse_len(c->own_key_buf, c->own_key_len), NULL, 0, mbedtls_ctr_drbg_random,
		    &c->drbg);
	else
		r = tls_is_file(c->own_key_file)
		    ? mbedtls_pk_parse_keyfile(&c->own_key, c->own_key_file, NULL,
		          mbedtls_ctr_drbg_random, &c->drbg)
		    : MBEDTLS_ERR_PK_FILE_IO_ERROR;
	if (r == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || r == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
		return err_set(e, ERR_TLS,
		    "the client key %s is protected by a password, which "
		    "is not supported: store it unencrypted (openssl pkey -in KEY -out PLAIN)",
		    kname);
	if (r != 0) {
		tls_strerror(r, msg, sizeof(msg));
		return err_set(e, ERR_TLS,
		    "cannot load the client key %s: %s; it must be a "
		    "readable, unencrypted PEM or DER private key (RSA or EC)",
		    kname, msg);
	}
	r = mbedtls_pk_check_pair(&c->own_crt.pk, &c->own_key, mbedtls_ctr_drbg_random, &c->drbg);
	if (r != 0)
		return err_set(e, ERR_TLS,
		    "the client certificate %s does not match its private "
		    "key %s: give the key the certificate was issued for",
		    cname, kname);
	c->own_loaded = true;
	return 0;
}

/* Forgets what a failed setup loaded, so that the next attempt starts from scratch. */
static void
tls_reset_material(struct tls_ctx *c)
{
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_free(&c->own_crt);
	mbedtls_x509_crt_init(&c->own_crt);
	mbedtls_pk_free(&c->own_key);
	mbedtls_pk_init(&c->own_key);
	c->own_loaded = false;
}

/* True when the CPU has the instructions our AES-GCM uses at run time: AES-NI and
 * PCLMULQDQ on x86 (vendor/gcm_alt.c), AES and PMULL on Armv8 (mbedTLS's aesce.c). */
static bool
tls_cpu_has_aes_gcm(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	return (c & bit_AES) && (c & bit_PCLMUL);
#elif defined(__aarch64__) && defined(HWCAP_AES) && defined(HWCAP_PMULL)
	unsigned long h = getauxval(AT_HWCAP);

	return (h & HWCAP_AES) && (h & HWCAP_PMULL);
#else
	return false;
#endif
}

/* The cipher suites offered, best first: mbedTLS's default list (every suite this build
 * has, ChaCha20-Poly1305 first because it is the fastest in plain C), with the AES-GCM
 * suites moved to the front when the CPU accelerates them (then several times faster
 * than ChaCha20, as OpenSSL orders them). Only the order changes, never the set, so TLS
 * 1.2 and 1.3 servers accept exactly what they did. */
static int tls_suites[TLS_SUITES_MAX + 1];
static pthread_once_t tls_suites_once = PTHREAD_ONCE_INIT;

static bool
tls_suite_is_aes_gcm(int id)
{
	const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_id(id);
	const char *name = cs != NULL ? mbedtls_ssl_ciphersuite_get_name(cs) : "";

	return strstr(name, "-AES-") != NULL && strstr(name, "-GCM-") != NULL;
}

static void
tls_suites_init(void)
{
	const int *def = mbedtls_ssl_list_ciphersuites();
	bool aes_first = tls_cpu_has_aes_gcm();
	int pass, i, n = 0;

	for (pass = aes_first ? 0 : 1; pass < 2; pass++) {
		for (i = 0; def[i] != 0 && n < TLS_SUITES_MAX; i++) {
			if (aes_first && tls_suite_is_aes_gcm(def[i]) != (pass == 0))
				continue;
			tls_suites[n++] = def[i];
		}
	}
	tls_suites[n] = 0;
}

static int
tls_setup(struct tls_ctx *c, struct err *e)
{
	static const char pers[] = "sandbox-mcp tls";
	char msg[128];
	int r;

	pthread_once(&tls_psa_once, tls_psa_init);
	if (tls_psa_status != PSA_SUCCESS)
		return err_set(e, ERR_TLS, "TLS: cannot initialise PSA crypto (status %d)",
		    (int)tls_psa_status);
	if (!c->seeded) {
		r = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
		    (const unsigned char *)pers, sizeof(pers) - 1);
		if (r != 0) {
			tls_strerror(r, msg, sizeof(msg));
			return err_set(e, ERR_TLS, "TLS: cannot seed the random generator: %s",
			    msg);
		}
		c->seeded = true;
	}
	if (tls_has_own(c)) {
		r = tls_load_own(c, e);
		if (r) {
			tls_reset_material(c);
			return r;
		}
	}
	if (!c->insecure) {
		r = tls_load_ca(c, e);
		if (r) {
			/* Start from scratch at the next attempt. */
			tls_reset_material(c);
			return r;
		}
	}
	r = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (r != 0) {
		tls_strerror(r, msg, sizeof(msg));
		return err_set(e, ERR_TLS, "TLS: cannot set up the configuration: %s", msg);
	}
	pthread_once(&tls_suites_once, tls_suites_init);
	mbedtls_ssl_conf_ciphersuites(&c->conf, tls_suites);
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_authmode(&c->conf,
	    c->insecure ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
	if (!c->insecure)
		mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	if (c->own_loaded) {
		r = mbedtls_ssl_conf_own_cert(&c->conf, &c->own_crt, &c->own_key);
		if (r != 0) {
			tls_strerror(r, msg, sizeof(msg));
			tls_reset_material(c);
			return err_set(e, ERR_TLS, "TLS: cannot use the client certificate: %s",
			    msg);
		}
	}
	mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&c->conf,
	    MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	r = mbedtls_ssl_conf_alpn_protocols(&c->conf, tls_alpn);
	if (r != 0)
		return err_set(e, ERR_TLS, "TLS: cannot configure ALPN");
	c->ready = true;
	return 0;
}

int
tls_ctx_load(struct tls_ctx *c, const char **source, struct err *e)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->ready)
		rc = tls_setup(c, e);
	if (source != NULL)
		*source = c->insecure ? "(none: --insecure)" : c->ca_source;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- session cache -------------------------------------------------------- */

static void
tls_session_offer(struct tls_conn *t)
{
	struct tls_ctx *c = t->ctx;
	int i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < TLS_SESSION_CACHE_MAX; i++) {
		if (strcmp(c->cache[i].key, t->key) == 0) {
			/* set_session copies; a stale or refused session only costs a
			 * full handshake. */
			(void)mbedtls_ssl_set_session(&t->ssl, &c->cache[i].s);
			c->cache[i].used = ++c->clock;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

static void
tls_session_save(struct tls_conn *t)
{
	struct tls_ctx *c = t->ctx;
	mbedtls_ssl_session s;
	struct tls_sess *slot = NULL;
	int i;

	mbedtls_ssl_session_init(&s);
	if (mbedtls_ssl_get_session(&t->ssl, &s) != 0) {
		mbedtls_ssl_session_free(&s);
		return;
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < TLS_SESSION_CACHE_MAX; i++) {
		if (strcmp(c->cache[i].key, t->key) == 0) {
			slot = &c->cache[i];
			break;
		}
		if (slot == NULL || c->cache[i].used < slot->used)
			slot = &c->cache[i];
	}
	mbedtls_ssl_session_free(&slot->s);
	slot->s = s; /* the cache owns what s pointed to now */
	snprintf(slot->key, sizeof(slot->key), "%s", t->key);
	slot->used = ++c->clock;
	pthread_mutex_unlock(&c->lock);
}

/* ---- BIO -------------------------------------------------------------------- */

static int
tls_bio_send(void *arg, const unsigned char *p, size_t n)
{
	struct tls_conn *t = arg;
	ssize_t r = sock_send(t->fd, p, n > INT_MAX ? INT_MAX : n);

	if (r >= 0)
		return (int)r;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	t->sockerr = errno;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

/* Serves mbedTLS from rbuf, refilled with one recv() of up to TLS_READ_AHEAD bytes. */
static int
tls_bio_recv(void *arg, unsigned char *p, size_t n)
{
	struct tls_conn *t = arg;
	ssize_t r;

	if (t->roff == t->rlen) {
		r = sock_recv(t->fd, t->rbuf, TLS_READ_AHEAD);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return MBEDTLS_ERR_SSL_WANT_READ;
			t->sockerr = errno;
			return MBEDTLS_ERR_NET_RECV_FAILED;
		}
		if (r == 0)
			return 0;
		t->roff = 0;
		t->rlen = (size_t)r;
	}
	if (n > t->rlen - t->roff)
		n = t->rlen - t->roff;
	if (n > INT_MAX)
		n = INT_MAX;
	memcpy(p, t->rbuf + t->roff, n);
	t->roff += n;
	return (int)n;
}

/* Waits until mbedTLS can go on after WANT_READ/WANT_WRITE. mbedTLS also answers
 * WANT_READ after a record that held no application data (a post-handshake message, a
 * compatibility-mode ChangeCipherSpec): bytes already read ahead are then next, and the
 * socket may stay silent, so it is not waited for. */
static int
tls_wait(struct tls_conn *t, int ret, int64_t deadline, const struct cancel *cancel, struct err *e)
{
	if (ret == MBEDTLS_ERR_SSL_WANT_READ && t->roff < t->rlen)
		return 0;
	return sock_wait(t->fd, ret == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN, deadline,
	    cancel, e);
}

static bool
tls_want(int ret)
{
	return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* ---- handshake ---------------------------------------------------------------- */

static const char *
tls_alert_name(int a)
{
	switch (a) {
	case MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE:
		return "unexpected_message";
	case MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC:
		return "bad_record_mac";
	case MBEDTLS_SSL_ALERT_MSG_RECORD_OVERFLOW:
		return "record_overflow";
	case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
		return "handshake_failure";
	case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
		return "bad_certificate";
	case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
		return "unsupported_certificate";
	case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
		return "certificate_revoked";
	case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
		return "certificate_expired";
	case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
		return "certificate_unknown";
	case MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER:
		return "illegal_parameter";
	case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
		return "unknown_ca";
	case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
		return "access_denied";
	case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR:
		return "decode_error";
	case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR:
		return "decrypt_error";
	case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
		return "protocol_version";
	case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
		return "insufficient_security";
	case MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR:
		return "internal_error";
	case MBEDTLS_SSL_ALERT_MSG_INAPROPRIATE_FALLBACK:
		return "inappropriate_fallback";
	case MBEDTLS_SSL_ALERT_MSG_USER_CANCELED:
		return "user_canceled";
	case MBEDTLS_SSL_ALERT_MSG_MISSING_EXTENSION:
		return "missing_extension";
	case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_EXT:
		return "unsupported_extension";
	case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME:
		return "unrecognized_name";
	case MBEDTLS_SSL_ALERT_MSG_CERT_REQUIRED:
		return "certificate_required";
	case MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL:
		return "no_application_protocol";
	default:
		return "unknown alert";
	}
}

/* For alerts about the client's certificate: what to do; NULL for other alerts. */
static const char *
tls_cert_alert_hint(int a, bool have_cert)
{
	switch (a) {
	case MBEDTLS_SSL_ALERT_MSG_CERT_REQUIRED:
	case MBEDTLS_SSL_ALERT_MSG_NO_CERT:
		return have_cert
		    ? "the server did not accept the client certificate offered"
		    : "the server requires a client certificate and none is configured";
	case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
	case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
	case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
	case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
	case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
	case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
	case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
		return have_cert ? "the server rejected the client certificate: check that a CA "
		                   "the server trusts issued it and that it has not expired"
		                 : NULL;
	default:
		return NULL;
	}
}

static const char *
tls_alert_hint(int a, bool have_cert)
{
	const char *h = tls_cert_alert_hint(a, have_cert);

	if (h != NULL)
		return h;
	switch (a) {
	case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
		return "the server does not accept TLS 1.2 or 1.3 (protocol version)";
	case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
		return have_cert
		    ? "no cipher suite or key exchange in common with the server, "
		      "or it did not accept the client certificate"
		    : "no cipher suite or key "
		      "exchange in common with the server, or it requires a client certificate";
	case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
		return "no cipher suite or key exchange in common with the server";
	case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME:
		return "the server does not serve this host name: check the URL";
	case MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL:
		return "the server does not speak HTTP/1.1 (ALPN)";
	default:
		return "check that the URL points at a TLS server";
	}
}

/* The verification result in words; the most telling reason first. */
static void
tls_verify_error(struct tls_conn *t, const char *host, struct err *e)
{
	uint32_t f = mbedtls_ssl_get_verify_result(&t->ssl);
	const char *src = t->ctx->ca_source ? t->ctx->ca_source : "the CA bundle";
	char info[160];

	if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
		err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's certificate "
		    "is signed by an unknown CA (not in %s): pass --ca-file with the CA that "
		    "issued it, or use --insecure for testing",
		    t->key, src);
	} else if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
		err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's certificate "
		    "is not valid for the host name %s (wrong host): check the host in the "
		    "URL",
		    t->key, host);
	} else if (f & MBEDTLS_X509_BADCERT_EXPIRED) {
		err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's certificate "
		    "has expired: renew it on the server, or check this machine's clock",
		    t->key);
	} else if (f & MBEDTLS_X509_BADCERT_FUTURE) {
		err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's certificate "
		    "is not valid yet: check this machine's clock",
		    t->key);
	} else if (f & MBEDTLS_X509_BADCERT_REVOKED) {
		err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's certificate "
		    "has been revoked",
		    t->key);
	} else {
		int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", f);

		/* verify_info ends each reason with a newline; keep the first. */
		char *nl = n > 0 ? strchr(info, '\n') : NULL;

		if (nl != NULL)
			*nl = '\0';
		err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's certificate "
		    "was rejected: %s",
		    t->key, n > 0 ? info : "verification failed");
	}
}

static int
tls_handshake_error(struct tls_conn *t, const char *host, int ret, struct err *e)
{
	char msg[128];
	int alert;

	switch (ret) {
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		tls_verify_error(t, host, e);
		return ERR_TLS;
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
		/* mbedTLS keeps the received alert in the record it just read; 3.6 has
		 * no accessor for its description. */
		alert = t->ssl.MBEDTLS_PRIVATE(in_msg) != NULL ? t->ssl.MBEDTLS_PRIVATE(in_msg)[1]
		                                               : -1;
		return err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server sent the "
		    "handshake alert '%s' (%d): %s",
		    t->key, tls_alert_name(alert), alert,
		    tls_alert_hint(alert, t->ctx->own_loaded));
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
		return err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server does not "
		    "speak TLS 1.2 or 1.3 (protocol version)",
		    t->key);
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
		return err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: no protocol "
		    "version, cipher suite or key exchange in common with the server",
		    t->key);
	case MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL:
		return err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server does not "
		    "speak HTTP/1.1 (ALPN)",
		    t->key);
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server closed "
		    "the connection: is it a TLS port?",
		    t->key);
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
	case MBEDTLS_ERR_SSL_DECODE_ERROR:
		return err_set(e, ERR_TLS,
		    "TLS handshake with %s failed: the server's answer "
		    "is not TLS: is it a plain http:// port?",
		    t->key);
	case MBEDTLS_ERR_NET_SEND_FAILED:
	case MBEDTLS_ERR_NET_RECV_FAILED:
		return err_set(e, ERR_IO, "TLS handshake with %s failed: %s", t->key,
		    sock_strerror(t->sockerr));
	default:
		tls_strerror(ret, msg, sizeof(msg));
		return err_set(e, ERR_TLS, "TLS handshake with %s failed: %s", t->key, msg);
	}
}

int
tls_conn_new(struct tls_ctx *c, int fd, const char *host, int port, int64_t deadline,
    const struct cancel *cancel, struct tls_conn **out, struct err *e)
{
	struct tls_conn *t;
	struct err we = { 0 };
	char msg[128];
	int rc, ret;

	*out = NULL;
	rc = tls_ctx_load(c, NULL, e);
	if (rc != 0)
		return rc;
	t = xcalloc(1, sizeof(*t));
	t->ctx = c;
	t->fd = fd;
	t->rbuf = xmalloc(TLS_READ_AHEAD);
	snprintf(t->key, sizeof(t->key), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	mbedtls_ssl_init(&t->ssl);
	ret = mbedtls_ssl_setup(&t->ssl, &c->conf);
	if (ret == 0)
		ret = mbedtls_ssl_set_hostname(&t->ssl, host);
	if (ret != 0) {
		tls_strerror(ret, msg, sizeof(msg));
		rc = err_set(e, ERR_TLS, "TLS with %s: cannot set up the connection: %s", t->key,
		    msg);
		goto out;
	}
	mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, tls_bio_recv, NULL);
	if (c->insecure)
		log_msg(LOG_WARN, "tls",
		    "certificate verification is OFF for %s (--insecure): "
		    "anyone on the network path can read and change this connection",
		    t->key);
	tls_session_offer(t);
	for (;;) {
		ret = mbedtls_ssl_handshake(&t->ssl);
		if (ret == 0)
			break;
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
			tls_session_save(t);
			continue;
		}
		if (!tls_want(ret)) {
			rc = tls_handshake_error(t, host, ret, e);
			goto out;
		}
		rc = tls_wait(t, ret, deadline, cancel, &we);
		if (rc != 0) {
			err_set(e, rc, "TLS handshake with %s: %s", t->key, we.msg);
			goto out;
		}
	}
	t->handshake_done = true;
	/* TLS 1.2 sessions (ID or ticket) are complete now; 1.3 tickets come later. */
	if (mbedtls_ssl_get_version_number(&t->ssl) == MBEDTLS_SSL_VERSION_TLS1_2)
		tls_session_save(t);
	log_msg(LOG_DEBUG, "tls", "%s: %s, %s", t->key, mbedtls_ssl_get_version(&t->ssl),
	    mbedtls_ssl_get_ciphersuite(&t->ssl));
	*out = t;
	return 0;
out:
	mbedtls_ssl_free(&t->ssl);
	free(t->rbuf);
	free(t);
	return rc;
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	/* One try: a peer that does not take the alert now does not get it. */
	if (t->handshake_done && !t->eof_clean)
		(void)mbedtls_ssl_close_notify(&t->ssl);
	mbedtls_ssl_free(&t->ssl);
	free(t->rbuf);
	free(t);
}

/* ---- data ---------------------------------------------------------------------- */

static int
tls_io_error(struct tls_conn *t, int ret, struct err *e)
{
	char msg[128];

	if (ret == MBEDTLS_ERR_NET_SEND_FAILED || ret == MBEDTLS_ERR_NET_RECV_FAILED)
		return err_set(e, ERR_IO, "%s", sock_strerror(t->sockerr));
	if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		int a = t->ssl.MBEDTLS_PRIVATE(in_msg) != NULL ? t->ssl.MBEDTLS_PRIVATE(in_msg)[1]
		                                               : -1;
		/* TLS 1.3 servers judge the client certificate after the client's handshake
		 * ended, so their verdict arrives here. */
		const char *h = tls_cert_alert_hint(a, t->ctx->own_loaded);

		return err_set(e, ERR_TLS, "the server sent the TLS alert '%s'%s%s",
		    tls_alert_name(a), h ? ": " : "", h ? h : "");
	}
	tls_strerror(ret, msg, sizeof(msg));
	return err_set(e, ERR_TLS, "TLS error: %s", msg);
}

int
tls_read(struct tls_conn *t, void *p, size_t n, size_t *got, int64_t deadline,
    const struct cancel *cancel, struct err *e)
{
	int ret, rc;

	*got = 0;
	if (t->eof_clean)
		return 0;
	for (;;) {
		if (cancel_fired(cancel))
			return err_set(e, ERR_CANCELLED, "cancelled");
		ret = mbedtls_ssl_read(&t->ssl, p, n > INT_MAX ? INT_MAX : n);
		if (ret > 0) {
			*got = (size_t)ret;
			return 0;
		}
		if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF)
			return 0;
		if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			t->eof_clean = true;
			return 0;
		}
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
			tls_session_save(t);
			continue;
		}
		if (!tls_want(ret))
			return tls_io_error(t, ret, e);
		rc = tls_wait(t, ret, deadline, cancel, e);
		if (rc != 0)
			return rc;
	}
}

int
tls_write_all(struct tls_conn *t, const void *p, size_t n, int64_t deadline,
    const struct cancel *cancel, struct err *e)
{
	const unsigned char *c = p;
	int ret, rc;

	while (n > 0) {
		if (cancel_fired(cancel))
			return err_set(e, ERR_CANCELLED, "cancelled");
		/* After WANT_*, the same arguments again (mbedTLS requires it). */
		ret = mbedtls_ssl_write(&t->ssl, c, n > INT_MAX ? INT_MAX : n);
		if (ret > 0) {
			c += ret;
			n -= (size_t)ret;
			continue;
		}
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
			tls_session_save(t);
			continue;
		}
		if (!tls_want(ret))
			return tls_io_error(t, ret, e);
		rc = tls_wait(t, ret, deadline, cancel, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

size_t
tls_pending(const struct tls_conn *t)
{
	return mbedtls_ssl_get_bytes_avail(&t->ssl);
}

bool
tls_idle_alive(struct tls_conn *t)
{
	unsigned char c;
	int i, ret;

	if (t->eof_clean || mbedtls_ssl_get_bytes_avail(&t->ssl) > 0)
		return false;
	/* Readable while idle is either post-handshake messages (tickets) or the end;
	 * bytes read ahead are read first. */
	for (i = 0; i < 16; i++) {
		if (t->roff == t->rlen && sock_idle_alive(t->fd))
			return true;
		ret = mbedtls_ssl_read(&t->ssl, &c, 1);
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
			tls_session_save(t);
			continue;
		}
		if (ret == MBEDTLS_ERR_SSL_WANT_READ)
			continue;
		if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			t->eof_clean = true;
		return false;
	}
	return false;
}

bool
tls_conn_eof_clean(const struct tls_conn *t)
{
	return t->eof_clean;
}

const char *
tls_conn_version(const struct tls_conn *t)
{
	return mbedtls_ssl_get_version(&t->ssl);
}
