/*
 * mbedtls_config.h - sandbox-mcp's own mbedTLS 3.6 configuration.
 *
 * Contract: a TLS *client* only (TLS 1.2 and 1.3, no DTLS, no server side),
 * verifying X.509 chains from a PEM bundle (SSL_CERT_FILE) or a directory
 * (SSL_CERT_DIR), with ECDHE key exchange, RSA / RSA-PSS / ECDSA signatures,
 * AES-GCM and ChaCha20-Poly1305, session tickets (resumption), SNI and ALPN.
 * Entropy comes from the platform (getrandom(2), else /dev/urandom) through
 * CTR_DRBG. Threads use pthreads. No debug output, no self tests, no
 * deprecated API.
 *
 * On x86-64 the GCM module is our own (MBEDTLS_GCM_ALT: vendor/gcm_alt.c, built into
 * libmbedtls.a by mk/vendor.mk), for speed; see the GCM_ALT line below.
 *
 * It replaces mbedTLS's include/mbedtls/mbedtls_config.h completely: an option
 * that is not defined here is off. mk/vendor.mk selects it with
 *     -Ivendor -DMBEDTLS_CONFIG_FILE='<mbedtls_config.h>'
 * Angle brackets on purpose: a quoted "mbedtls_config.h" would be looked up
 * first next to include/mbedtls/build_info.h and silently pick the upstream
 * default configuration instead of this one.
 *
 * check_config.h (included by build_info.h after this file) rejects any
 * inconsistent combination at compile time, so a wrong edit fails the build.
 * Every option below is named exactly as in upstream mbedtls_config.h, which
 * documents what each one requires.
 */
#ifndef SANDBOX_MCP_MBEDTLS_CONFIG_H
#define SANDBOX_MCP_MBEDTLS_CONFIG_H

/* Lets our code (and mk/vendor.mk's users) check that this file is in use. */
#define SANDBOX_MCP_MBEDTLS_CONFIG 1

/* ---- System support --------------------------------------------------- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* X.509 validity periods */
#define MBEDTLS_FS_IO                   /* x509_crt_parse_file / _parse_path */
#define MBEDTLS_DEPRECATED_REMOVED
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD
/* MBEDTLS_PLATFORM_C is off: mbedtls_calloc/free/snprintf are the libc ones. */

/* ---- Random numbers ---------------------------------------------------- */
#define MBEDTLS_ENTROPY_C               /* platform source: getrandom/urandom */
#define MBEDTLS_CTR_DRBG_C

/* ---- PSA Crypto (required by TLS 1.3; call psa_crypto_init() first) ---- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC
/* No persistent keys: MBEDTLS_PSA_CRYPTO_STORAGE_C / PSA_ITS_FILE_C are off. */

/* ---- Big numbers, public keys ------------------------------------------ */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C            /* ECDSA signature encoding */
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C              /* PSA <-> PK key export (TLS 1.3) */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21               /* RSA-PSS, mandatory in TLS 1.3 */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED /* X25519, the usual TLS 1.3 group */

/* ---- Hashes and MACs --------------------------------------------------- */
#define MBEDTLS_MD_C
/* SHA-1 only so that old self-signed roots in the system bundle (signed
 * sha1WithRSAEncryption) still parse; the default X.509 profile never
 * accepts a SHA-1 signature in a chain. */
#define MBEDTLS_SHA1_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C                  /* PSA HKDF for the TLS 1.3 key schedule */

/* ---- Symmetric ciphers ------------------------------------------------- */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C                 /* x86-64 AES-NI, runtime detected */
#define MBEDTLS_AESCE_C                 /* Armv8 crypto extensions, runtime detected */
#define MBEDTLS_GCM_C
/* x86-64: our AES-GCM (vendor/gcm_alt.c, the context in vendor/gcm_alt.h) replaces
 * library/gcm.c: AES-NI and PCLMULQDQ on four blocks at a time where the CPU has them
 * (upstream does one block per call: about ChaCha20's speed), else a portable path.
 * Elsewhere (Armv8 with its crypto extensions included) upstream's GCM is used. */
#if defined(__x86_64__)
#define MBEDTLS_GCM_ALT
#endif
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
/* No CBC/CTR/CFB/OFB/XTS modes, CCM, DES, Camellia, ARIA, CMAC. */

/* ---- PEM and X.509 ----------------------------------------------------- */
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* ---- TLS ---------------------------------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED /* resumption */
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE /* middlebox compatibility */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE     /* required by TLS 1.3 in 3.6 */
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* Off: SSL_SRV_C, ticket keys/cache/cookies (server side), renegotiation,
 * max fragment length, encrypt-then-MAC (CBC only), context serialization,
 * early data, DTLS, NET_C and TIMING_C (net/tls sets its own BIO). */

/* ---- Diagnostics --------------------------------------------------------- */
#define MBEDTLS_ERROR_C                 /* mbedtls_strerror() for messages */
/* Off: DEBUG_C, SELF_TEST, VERSION_C, VERSION_FEATURES. */

#endif /* SANDBOX_MCP_MBEDTLS_CONFIG_H */
