/*
 * gcm_alt.h - the GCM context of sandbox-mcp's own mbedTLS GCM module (gcm_alt.c).
 *
 * Contract: mbedtls_config.h defines MBEDTLS_GCM_ALT on x86-64, and mbedtls/gcm.h then
 * includes this file instead of defining mbedtls_gcm_context itself. gcm_alt.c
 * implements the whole public mbedtls_gcm_* API of mbedTLS 3.6 with the same results
 * and error codes as upstream library/gcm.c. Its reason to exist is speed: upstream
 * encrypts and authenticates one 16-byte block per call chain (about 300 MB/s with
 * AES-NI); gcm_alt.c runs AES-NI on four counter blocks at once and folds four
 * blocks into GHASH with one reduction (PCLMULQDQ), several times faster. Without
 * AES-NI and PCLMULQDQ (checked at run time) it falls back to mbedTLS's AES and a
 * constant-time bitwise GHASH. The fields are private: use the API only.
 */
#ifndef SANDBOX_MCP_GCM_ALT_H
#define SANDBOX_MCP_GCM_ALT_H

#include "mbedtls/aes.h"

#include <stdint.h>

typedef struct mbedtls_gcm_context {
	mbedtls_aes_context MBEDTLS_PRIVATE(aes);	/* the key, for the portable path */
	unsigned char MBEDTLS_PRIVATE(rk)[15 * 16];	/* AES-NI round keys (fast path) */
	unsigned char MBEDTLS_PRIVATE(hpow)[4 * 16];	/* H^1..H^4, byte-reversed (fast) */
	uint64_t MBEDTLS_PRIVATE(h)[2];			/* H, big-endian halves (portable) */
	uint64_t MBEDTLS_PRIVATE(len);			/* bytes of data so far */
	uint64_t MBEDTLS_PRIVATE(add_len);		/* bytes of additional data so far */
	unsigned char MBEDTLS_PRIVATE(base_ectr)[16];	/* E(K, J0), masks the tag */
	unsigned char MBEDTLS_PRIVATE(y)[16];		/* the counter block */
	unsigned char MBEDTLS_PRIVATE(buf)[16];		/* the GHASH state */
	unsigned char MBEDTLS_PRIVATE(mode);		/* MBEDTLS_GCM_ENCRYPT / _DECRYPT */
	unsigned char MBEDTLS_PRIVATE(nr);		/* AES rounds: 10, 12 or 14 */
	unsigned char MBEDTLS_PRIVATE(fast);		/* 1: AES-NI and PCLMULQDQ in use */
} mbedtls_gcm_context;

/* For tests: nonzero makes later mbedtls_gcm_setkey() calls take the portable path even
 * where the fast one would run, so that both can be checked on one machine. */
void sandbox_mcp_gcm_portable(int on);

#endif /* SANDBOX_MCP_GCM_ALT_H */
