/*
 * test_tls_gcm.c -- our AES-GCM module (vendor/gcm_alt.c, the cipher of TLS's AES-GCM
 * suites) through mbedTLS's public mbedtls_gcm_* API: upstream's NIST CAVS vectors
 * (vendor/mbedtls/tests/suites/test_suite_gcm.aes*.data, about 2000 of them) one-shot,
 * split at every byte of data and of additional data, in place and with the output
 * before the input; long random messages with random splits, fast path against portable
 * path; forged tags; the API's error codes. Every case runs on both paths: the AES-NI
 * and PCLMULQDQ one (where the CPU has them) and the portable one.
 * Needs the fetched vendor tree: run from the checkout or set SANDBOX_MCP_ROOT.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* to see which path a context took */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <mbedtls/build_info.h>
#include <mbedtls/gcm.h>

#include "tap.h"
#include "util/str.h"

#if !defined(MBEDTLS_GCM_ALT)
int
main(void)
{
	printf("1..0 # SKIP upstream GCM on this architecture (MBEDTLS_GCM_ALT is x86-64)\n");
	return 0;
}
#else

#define MSG_MAX      128  /* the longest message in the NIST files */
#define LONG_MAX_LEN 5000 /* random messages */

struct vec {
	unsigned char key[32], src[MSG_MAX], iv[128], add[128], dst[MSG_MAX], tag[16];
	size_t key_len, src_len, iv_len, add_len, dst_len, tag_len;
	int fail; /* decrypt vectors: the tag must be rejected */
};

/* A field "\"hex\"" into out; false when it does not fit or is not hex. */
static int
unhex(const char *f, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(f), i;

	if (n < 2 || f[0] != '"' || f[n - 1] != '"' || (n - 2) % 2 != 0 || (n - 2) / 2 > max)
		return 0;
	for (i = 0; i < (n - 2) / 2; i++) {
		int h = str_hexval((unsigned char)f[1 + 2 * i]),
		    l = str_hexval((unsigned char)f[2 + 2 * i]);

		if (h < 0 || l < 0)
			return 0;
		out[i] = (unsigned char)(h << 4 | l);
	}
	*len = i;
	return 1;
}

/* Splits a .data line at ':' (the hex fields hold none). */
static int
fields(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, ":\n", &save); t && n < max; t = strtok_r(NULL, ":\n", &save))
		f[n++] = t;
	return n;
}

/* gcm_encrypt_and_tag:ID:key:src:iv:add:dst:tagbits:tag:0 or
 * gcm_decrypt_and_verify:ID:key:src:iv:add:tagbits:tag:"FAIL"|"":pt:0 */
static int
parse(char *line, struct vec *v, int *enc)
{
	char *f[12];
	int n = fields(line, f, 12);
	size_t tl;

	memset(v, 0, sizeof(*v));
	if (n == 10 && strcmp(f[0], "gcm_encrypt_and_tag") == 0) {
		*enc = 1;
		tl = (size_t)atoi(f[7]) / 8;
		return unhex(f[2], v->key, 32, &v->key_len) &&
		    unhex(f[3], v->src, MSG_MAX, &v->src_len) &&
		    unhex(f[4], v->iv, 128, &v->iv_len) && unhex(f[5], v->add, 128, &v->add_len) &&
		    unhex(f[6], v->dst, MSG_MAX, &v->dst_len) &&
		    unhex(f[8], v->tag, 16, &v->tag_len) && v->tag_len == tl &&
		    v->dst_len == v->src_len;
	}
	if (n == 11 && strcmp(f[0], "gcm_decrypt_and_verify") == 0) {
		*enc = 0;
		tl = (size_t)atoi(f[6]) / 8;
		v->fail = strcmp(f[8], "\"FAIL\"") == 0;
		return unhex(f[2], v->key, 32, &v->key_len) &&
		    unhex(f[3], v->src, MSG_MAX, &v->src_len) &&
		    unhex(f[4], v->iv, 128, &v->iv_len) && unhex(f[5], v->add, 128, &v->add_len) &&
		    unhex(f[7], v->tag, 16, &v->tag_len) && v->tag_len == tl &&
		    unhex(f[9], v->dst, MSG_MAX, &v->dst_len) &&
		    (v->fail || v->dst_len == v->src_len);
	}
	return -1; /* not a vector line */
}

static int
setkey(mbedtls_gcm_context *g, const unsigned char *key, size_t key_len, int portable)
{
	sandbox_mcp_gcm_portable(portable);
	return mbedtls_gcm_setkey(g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)(key_len * 8));
}

/* Streaming: AAD split at sa, data split at sd, into out; the tag into tag. */
static int
stream(mbedtls_gcm_context *g, int mode, const struct vec *v, size_t sa, size_t sd,
    unsigned char *out, unsigned char *tag)
{
	size_t olen;

	return mbedtls_gcm_starts(g, mode, v->iv, v->iv_len) == 0 &&
	    mbedtls_gcm_update_ad(g, v->add, sa) == 0 &&
	    mbedtls_gcm_update_ad(g, v->add + sa, v->add_len - sa) == 0 &&
	    mbedtls_gcm_update(g, v->src, sd, out, sd, &olen) == 0 && olen == sd &&
	    mbedtls_gcm_update(g, v->src + sd, v->src_len - sd, out + sd, v->src_len - sd, &olen) ==
	    0 &&
	    olen == v->src_len - sd &&
	    mbedtls_gcm_finish(g, NULL, 0, &olen, tag, v->tag_len) == 0 && olen == 0;
}

/* One vector, one path: every way of feeding it; 1 when all agree with the file. */
static int
check_vec(const struct vec *v, int enc, int portable, char *why, size_t whylen)
{
	mbedtls_gcm_context g;
	unsigned char out[MSG_MAX], tag[16], buf[MSG_MAX + 16];
	int mode = enc ? MBEDTLS_GCM_ENCRYPT : MBEDTLS_GCM_DECRYPT, good = 1, r;
	size_t sd, k;

	mbedtls_gcm_init(&g);
	if (setkey(&g, v->key, v->key_len, portable) != 0) {
		snprintf(why, whylen, "setkey failed");
		mbedtls_gcm_free(&g);
		return 0;
	}
	if (enc) {
		r = mbedtls_gcm_crypt_and_tag(&g, mode, v->src_len, v->iv, v->iv_len, v->add,
		    v->add_len, v->src, out, v->tag_len, tag);
		if (r != 0 || memcmp(out, v->dst, v->src_len) != 0 ||
		    memcmp(tag, v->tag, v->tag_len) != 0) {
			snprintf(why, whylen, "one-shot encryption differs (ret %d)", r);
			good = 0;
		}
	} else {
		memset(out, 0xa5, sizeof(out));
		r = mbedtls_gcm_auth_decrypt(&g, v->src_len, v->iv, v->iv_len, v->add, v->add_len,
		    v->tag, v->tag_len, v->src, out);
		if (v->fail) {
			for (k = 0; k < v->src_len && out[k] == 0; k++)
				;
			if (r != MBEDTLS_ERR_GCM_AUTH_FAILED || k != v->src_len) {
				snprintf(why, whylen,
				    "a wrong tag was not rejected with a wiped "
				    "output (ret %d)",
				    r);
				good = 0;
			}
			mbedtls_gcm_free(&g);
			return good;
		}
		if (r != 0 || memcmp(out, v->dst, v->src_len) != 0) {
			snprintf(why, whylen, "one-shot decryption differs (ret %d)", r);
			good = 0;
		}
	}
	/* Every data split (with the AAD split along), then in place and shifted. */
	for (sd = 0; good && sd <= v->src_len; sd++) {
		size_t sa = v->add_len ? sd % (v->add_len + 1) : 0;

		if (!stream(&g, mode, v, sa, sd, out, tag) ||
		    memcmp(out, v->dst, v->src_len) != 0 || memcmp(tag, v->tag, v->tag_len) != 0) {
			snprintf(why, whylen, "streaming with splits %zu/%zu differs", sa, sd);
			good = 0;
		}
	}
	for (k = 0; good && k <= 16; k += 5) { /* output == input, output before input */
		size_t olen;

		memcpy(buf + k, v->src, v->src_len);
		if (mbedtls_gcm_starts(&g, mode, v->iv, v->iv_len) != 0 ||
		    mbedtls_gcm_update_ad(&g, v->add, v->add_len) != 0 ||
		    mbedtls_gcm_update(&g, buf + k, v->src_len, buf, v->src_len, &olen) != 0 ||
		    mbedtls_gcm_finish(&g, NULL, 0, &olen, tag, v->tag_len) != 0 ||
		    memcmp(buf, v->dst, v->src_len) != 0 || memcmp(tag, v->tag, v->tag_len) != 0) {
			snprintf(why, whylen, "output %zu bytes before the input differs", k);
			good = 0;
		}
	}
	mbedtls_gcm_free(&g);
	return good;
}

static void
nist_file(const char *root, const char *name, int portable)
{
	char path[4096], line[4096], why[128] = "", title[256] = "";
	struct vec v;
	FILE *f;
	int enc, n = 0, bad = 0, r;

	snprintf(path, sizeof(path), "%s/vendor/mbedtls/tests/suites/test_suite_gcm.%s.data", root,
	    name);
	f = fopen(path, "r");
	if (!ok(f != NULL, "%s: the NIST vectors are there (%s)", name, path))
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "AES-GCM", 7) == 0)
			snprintf(title, sizeof(title), "%.200s", line);
		r = parse(line, &v, &enc);
		if (r < 0)
			continue;
		n++;
		if (r == 0 || !check_vec(&v, enc, portable, why, sizeof(why))) {
			if (bad++ < 3)
				note("%s: %.*s: %s", name, (int)strcspn(title, "\n"), title,
				    r == 0 ? "cannot parse the line" : why);
		}
	}
	fclose(f);
	ok(n >= 150 && bad == 0,
	    "%s, %s path: %d NIST vectors one-shot, at every split, "
	    "in place and shifted (%d wrong)",
	    name, portable ? "portable" : "default", n, bad);
}

/* ---- long messages: the default path against the portable one --------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void
fill(unsigned char *p, size_t n)
{
	while (n-- > 0)
		*p++ = (unsigned char)rnd();
}

/* Encrypts (mode 1) or decrypts src in random pieces, AAD in random pieces too. */
static int
pieces(mbedtls_gcm_context *g, int mode, const unsigned char *iv, size_t iv_len,
    const unsigned char *add, size_t add_len, const unsigned char *src, size_t len,
    unsigned char *out, unsigned char tag[16])
{
	size_t off = 0, n, olen;

	if (mbedtls_gcm_starts(g, mode, iv, iv_len) != 0)
		return 0;
	while (off < add_len) {
		n = 1 + rnd() % (add_len - off);
		if (mbedtls_gcm_update_ad(g, add + off, n) != 0)
			return 0;
		off += n;
	}
	for (off = 0; off < len; off += n) {
		n = rnd() % 3 == 0 ? 1 + rnd() % 40 : 1 + rnd() % (len - off);
		if (n > len - off)
			n = len - off;
		if (mbedtls_gcm_update(g, src + off, n, out + off, n, &olen) != 0 || olen != n)
			return 0;
	}
	return mbedtls_gcm_finish(g, NULL, 0, &olen, tag, 16) == 0;
}

static void
test_long(void)
{
	static unsigned char key[32], iv[64], add[100], src[LONG_MAX_LEN], a[LONG_MAX_LEN],
	    b[LONG_MAX_LEN], back[LONG_MAX_LEN];
	static const size_t iv_lens[] = { 12, 1, 16, 17, 60 };
	mbedtls_gcm_context fast, soft;
	unsigned char ta[16], tb[16];
	int i, bad = 0, forged = 0, runs = 300;

	mbedtls_gcm_init(&fast);
	mbedtls_gcm_init(&soft);
	for (i = 0; i < runs; i++) {
		size_t kl = (i % 3 == 0) ? 16 : (i % 3 == 1) ? 32 : 24;
		size_t ivl = iv_lens[i % 5], al = rnd() % sizeof(add);
		size_t len = i < 20 ? (size_t)i * 16 : rnd() % LONG_MAX_LEN;

		fill(key, kl);
		fill(iv, ivl);
		fill(add, al);
		fill(src, len);
		if (setkey(&fast, key, kl, 0) != 0 || setkey(&soft, key, kl, 1) != 0 ||
		    !pieces(&fast, MBEDTLS_GCM_ENCRYPT, iv, ivl, add, al, src, len, a, ta) ||
		    mbedtls_gcm_crypt_and_tag(&soft, MBEDTLS_GCM_ENCRYPT, len, iv, ivl, add, al,
		        src, b, 16, tb) != 0 ||
		    memcmp(a, b, len) != 0 || memcmp(ta, tb, 16) != 0) {
			if (bad++ < 3)
				note(
				    "run %d: key %zu bytes, iv %zu, aad %zu, %zu bytes: encryption "
				    "differs between the paths",
				    i, kl, ivl, al, len);
			continue;
		}
		/* Decrypt on the other path, in pieces; then a forged tag and ciphertext. */
		if (!pieces(&soft, MBEDTLS_GCM_DECRYPT, iv, ivl, add, al, a, len, back, tb) ||
		    memcmp(back, src, len) != 0 || memcmp(ta, tb, 16) != 0 ||
		    mbedtls_gcm_auth_decrypt(&fast, len, iv, ivl, add, al, ta, 16, a, back) != 0 ||
		    memcmp(back, src, len) != 0) {
			if (bad++ < 3)
				note("run %d: decryption does not give the message back", i);
			continue;
		}
		if (len > 0)
			a[rnd() % len] ^= (unsigned char)(1u << (rnd() % 8));
		else
			ta[rnd() % 16] ^= 1;
		if (mbedtls_gcm_auth_decrypt(&fast, len, iv, ivl, add, al, ta, 16, a, back) ==
		        MBEDTLS_ERR_GCM_AUTH_FAILED &&
		    mbedtls_gcm_auth_decrypt(&soft, len, iv, ivl, add, al, ta, 16, a, back) ==
		        MBEDTLS_ERR_GCM_AUTH_FAILED)
			forged++;
	}
	ok(bad == 0,
	    "%d random messages up to %d bytes (AES-128/192/256, IVs of 1 to 60 "
	    "bytes, random pieces): both paths give the same ciphertext and tag, and "
	    "decrypt each other's",
	    runs, LONG_MAX_LEN);
	ok(forged == runs,
	    "a flipped bit in the ciphertext or tag fails authentication on "
	    "both paths (%d of %d)",
	    forged, runs);
	mbedtls_gcm_free(&fast);
	mbedtls_gcm_free(&soft);
}

/* ---- the API's errors ----------------------------------------------------------------- */

static void
test_errors(int portable)
{
	mbedtls_gcm_context g;
	unsigned char key[32] = { 1 }, iv[12] = { 2 }, buf[64] = { 0 }, tag[17];
	size_t olen;
	const char *p = portable ? "portable" : "default";

	mbedtls_gcm_init(&g);
	sandbox_mcp_gcm_portable(portable);
	is_int(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 64), MBEDTLS_ERR_GCM_BAD_INPUT,
	    "%s: a 64-bit key is refused", p);
	is_int(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_CAMELLIA, key, 128),
	    MBEDTLS_ERR_GCM_BAD_INPUT, "%s: a cipher other than AES is refused", p);
	is_int(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256), 0, "%s: AES-256 key", p);
	is_int(mbedtls_gcm_starts(&g, MBEDTLS_GCM_ENCRYPT, iv, 0), MBEDTLS_ERR_GCM_BAD_INPUT,
	    "%s: an empty IV is refused", p);
	is_int(mbedtls_gcm_starts(&g, MBEDTLS_GCM_ENCRYPT, iv, 12), 0, "%s: starts", p);
	is_int(mbedtls_gcm_update(&g, buf, 32, buf, 31, &olen), MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL,
	    "%s: an output buffer shorter than the input is refused", p);
	is_int(mbedtls_gcm_update(&g, buf, 32, buf + 1, 32, &olen), MBEDTLS_ERR_GCM_BAD_INPUT,
	    "%s: an output overlapping the input's tail is refused", p);
	is_int(mbedtls_gcm_finish(&g, NULL, 0, &olen, tag, 3), MBEDTLS_ERR_GCM_BAD_INPUT,
	    "%s: a 3-byte tag is refused", p);
	is_int(mbedtls_gcm_finish(&g, NULL, 0, &olen, tag, 17), MBEDTLS_ERR_GCM_BAD_INPUT,
	    "%s: a 17-byte tag is refused", p);
	mbedtls_gcm_free(&g);
}

static int
cpu_has_fast_gcm(void)
{
#if defined(__x86_64__)
	unsigned int a, b, c, d;

	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES) && (c & bit_PCLMUL) &&
	    (c & bit_SSSE3);
#else
	return 0;
#endif
}

int
main(void)
{
	static const char *const files[] = { "aes128_en", "aes128_de", "aes192_en", "aes192_de",
		"aes256_en", "aes256_de" };
	const char *root = getenv("SANDBOX_MCP_ROOT");
	unsigned char key[32] = { 0 };
	mbedtls_gcm_context g;
	size_t i;
	int p;

	if (root == NULL || root[0] == '\0')
		root = ".";
	mbedtls_gcm_init(&g);
	sandbox_mcp_gcm_portable(0);
	mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 128);
	if (cpu_has_fast_gcm())
		ok(g.fast == 1,
		    "this CPU has AES-NI and PCLMULQDQ: AES-128 keys take the "
		    "fast path");
	else
		note("this CPU lacks AES-NI or PCLMULQDQ: both runs take the portable path");
	mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 192);
	ok(g.fast == 0, "AES-192 keys take the portable path");
	sandbox_mcp_gcm_portable(1);
	mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256);
	ok(g.fast == 0, "sandbox_mcp_gcm_portable(1) selects the portable path");
	mbedtls_gcm_free(&g);

	for (p = 0; p < 2; p++)
		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			nist_file(root, files[i], p);
	test_long();
	test_errors(0);
	test_errors(1);
	sandbox_mcp_gcm_portable(0);
	return done_testing();
}
#endif /* MBEDTLS_GCM_ALT */
