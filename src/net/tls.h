/*
 * tls.h -- TLS 1.2/1.3 client connections over a connected socket (mbedTLS 3.6).
 *
 * Owns:    struct tls_ctx: the shared client configuration (RNG, CA bundle, mbedTLS
 *          config) and the session cache used to resume TLS sessions per "host:port";
 *          release with tls_ctx_free() after every connection made from it is freed.
 *          struct tls_conn: one connection's TLS state; release with tls_conn_free().
 * Borrows: the socket descriptor given to tls_conn_new() (the caller closes it after
 *          tls_conn_free()); the ctx, for as long as any of its connections lives.
 * Trust:   verification is REQUIRED: the chain must end in a CA from the bundle and the
 *          certificate must name the host (DNS or IP SAN). The bundle is read at the first
 *          connection, from ca_file / ca_dir when given, else SSL_CERT_FILE and
 *          SSL_CERT_DIR, else the first system location that holds certificates (Debian,
 *          Ubuntu, Alpine, Arch: /etc/ssl/certs/ca-certificates.crt; RHEL, Fedora:
 *          /etc/pki/tls/certs/ca-bundle.crt and the ca-trust extract; openSUSE:
 *          /etc/ssl/ca-bundle.pem; macOS, Alpine, BSD: /etc/ssl/cert.pem; then the
 *          directories /etc/ssl/certs and /etc/pki/tls/certs). `insecure` skips all
 *          checks and logs a warning for every connection.
 * Client:  a client certificate (mutual TLS, e.g. a kubeconfig's client-certificate) is
 *          offered to servers that ask for one when tls_options names one: a PEM or DER
 *          certificate (chain) and its unencrypted private key (PEM or DER: PKCS#1, SEC1
 *          or PKCS#8; RSA or EC), each from a file or from memory (memory wins). Both are
 *          loaded at the first connection with the CA bundle; the ctx copies the memory
 *          forms and wipes its copy of the key when freed.
 * Protocol: TLS 1.2 and 1.3, SNI, ALPN "http/1.1"; TLS 1.3 session
 *          tickets and TLS 1.2 sessions are kept (one per host:port, the newest) and
 *          offered by the next connection to that host:port. Cipher suites: all that
 *          mbedTLS has (AES-GCM, ChaCha20-Poly1305), AES-GCM offered first when the CPU
 *          has AES and carry-less multiply instructions (AES-NI + PCLMULQDQ, Armv8 AES +
 *          PMULL), ChaCha20-Poly1305 first otherwise: whichever is faster here.
 * Reads:   one recv() takes up to 64 KiB (several records) into a per-connection buffer
 *          that mbedTLS reads from, so a bulk download costs a system call per 64 KiB.
 * Errors:  ERR_TLS with a sentence that names host:port and the reason in words
 *          ("the server's certificate has expired", "... is not valid for the host name",
 *          "... is signed by an unknown CA", "the server sent the handshake alert
 *          'protocol_version'", "the server does not speak TLS 1.2 or 1.3", "the client
 *          certificate ... does not match its private key"); ERR_IO for
 *          socket errors, ERR_TIMEOUT, ERR_CANCELLED. No message holds secret material.
 * Waits:   every wait is sock_wait(): one poll() on the socket and the cancel descriptor,
 *          ending at the given deadline (absolute monotonic ms, DEADLINE_NONE for none).
 * Threads: a tls_ctx is shared by any number of threads (its lazy setup and session
 *          cache are locked); a tls_conn is used by one thread at a time.
 */
#ifndef NET_TLS_H
#define NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cancel.h"
#include "util/err.h"

#define TLS_SESSION_CACHE_MAX 64

struct tls_options {
	const char *ca_file; /* PEM bundle, or NULL */
	const char *ca_dir;  /* directory of PEM files, or NULL */
	bool insecure;       /* no certificate or host name checks (loud) */
	/* Client certificate and key, both or neither; the buffers (PEM need not be
	 * NUL-terminated) are copied by tls_ctx_new. */
	const char *client_cert_file;
	const char *client_key_file;
	const void *client_cert;
	size_t client_cert_len;
	const void *client_key;
	size_t client_key_len;
};

struct tls_ctx;
struct tls_conn;

/* Copies the options (file names and buffers); does no I/O and cannot fail. */
struct tls_ctx *tls_ctx_new(const struct tls_options *o);
void tls_ctx_free(struct tls_ctx *c);
/* Loads the CA bundle (and the client certificate) now if it was not loaded yet (the
 * first tls_conn_new does it too).
 * *source, when not NULL, is set to the file or directory it came from (static or owned
 * by the ctx). */
int tls_ctx_load(struct tls_ctx *c, const char **source, struct err *e);

/* Runs the handshake on fd (non-blocking, connected) for host:port (host without
 * brackets). *out is NULL on error. */
int tls_conn_new(struct tls_ctx *c, int fd, const char *host, int port, int64_t deadline,
    const struct cancel *cancel, struct tls_conn **out, struct err *e);
/* Sends close_notify if it can do so without waiting, then frees. NULL is a no-op. */
void tls_conn_free(struct tls_conn *t);

/* Reads at least one byte of application data into p[0..n), waiting as needed.
 * *got is 0 at the end of the stream: after the peer's close_notify (tls_conn_eof_clean()
 * is then true) or when the TCP connection ended without one. */
int tls_read(struct tls_conn *t, void *p, size_t n, size_t *got, int64_t deadline,
    const struct cancel *cancel, struct err *e);
/* Writes all n bytes, waiting as needed. */
int tls_write_all(struct tls_conn *t, const void *p, size_t n, int64_t deadline,
    const struct cancel *cancel, struct err *e);
/* Decrypted bytes ready to read without touching the socket. */
size_t tls_pending(const struct tls_conn *t);
/* True when an idle connection is still usable: no close_notify, no hang-up and no
 * unexpected data. Processes post-handshake messages (TLS 1.3 tickets) that arrived. */
bool tls_idle_alive(struct tls_conn *t);
bool tls_conn_eof_clean(const struct tls_conn *t);
/* "TLSv1.2" or "TLSv1.3". */
const char *tls_conn_version(const struct tls_conn *t);

#endif
