/*
 * gcm_alt.c - AES-GCM for mbedTLS 3.6 (MBEDTLS_GCM_ALT): AES-NI and PCLMULQDQ on four
 * blocks at a time, with a portable fallback. The contract is in gcm_alt.h.
 *
 * The mode itself (J0 from the IV, the order of checks and their error codes, partial
 * blocks of additional data and of data across calls, the length block, the tag) follows
 * upstream library/gcm.c of mbedTLS 3.6 step by step, so that PSA, the cipher layer and
 * TLS see no difference; only the block operations are new:
 *   - fast path (x86-64 with AES-NI, PCLMULQDQ and SSSE3, checked with cpuid once;
 *     128- and 256-bit keys): the round keys are expanded with AESKEYGENASSIST; data
 *     goes four counter blocks per AES pass, and GHASH works on byte-reversed blocks,
 *     folding four of them into the state with H^4..H^1 and one reduction (Gueron and
 *     Kounavis, "Intel Carry-Less Multiplication Instruction and its Usage for
 *     Computing the GCM Mode", rev. 2.02, algorithm 5 and the aggregated reduction);
 *   - portable path (other CPUs, 192-bit keys): mbedtls_aes_crypt_ecb() per block
 *     (itself AES-NI or table based) and GHASH bit by bit with masks (NIST SP 800-38D
 *     algorithm 1), which takes no branch and no table lookup on secret data.
 * tests/unit/test_gcm.c runs upstream's NIST vectors and random splits through both.
 */
/* Like upstream's library/ files: this module owns the private fields of its context. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS

#include "mbedtls/build_info.h"

#if defined(MBEDTLS_GCM_C) && defined(MBEDTLS_GCM_ALT)

#include "mbedtls/constant_time.h"
#include "mbedtls/error.h"
#include "mbedtls/gcm.h"
#include "mbedtls/platform_util.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GCM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#define GCM_TARGET __attribute__((target("aes,pclmul,ssse3")))
#else
#define GCM_X86 0
#endif

static int gcm_portable_only;	/* tests: new keys take the portable path */

void
sandbox_mcp_gcm_portable(int on)
{
	gcm_portable_only = on;
}

static uint64_t
gcm_get64(const unsigned char *p)
{
	return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
	    (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	    (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

static void
gcm_put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void
gcm_xor(unsigned char *r, const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		r[i] = a[i] ^ b[i];
}

/* y[12..16) += 1 mod 2^32 (inc32 of SP 800-38D). */
static void
gcm_incr(unsigned char y[16])
{
	int i;

	for (i = 15; i >= 12; i--)
		if (++y[i] != 0)
			break;
}

/* ---- portable block operations ---------------------------------------------------- */

/* x = x * H in GF(2^128), bit by bit with masks: no secret-dependent branch or index. */
static void
gcm_mult_soft(const mbedtls_gcm_context *ctx, unsigned char x[16])
{
	uint64_t xh = gcm_get64(x), xl = gcm_get64(x + 8);
	uint64_t vh = ctx->h[0], vl = ctx->h[1], zh = 0, zl = 0, m;
	int i;

	for (i = 0; i < 128; i++) {
		m = (uint64_t)0 - ((i < 64 ? xh >> (63 - i) : xl >> (127 - i)) & 1);
		zh ^= vh & m;
		zl ^= vl & m;
		m = (uint64_t)0 - (vl & 1);
		vl = (vl >> 1) | (vh << 63);
		vh = (vh >> 1) ^ (UINT64_C(0xe100000000000000) & m);
	}
	gcm_put64(x, zh);
	gcm_put64(x + 8, zl);
}

/* ---- AES-NI and PCLMULQDQ ------------------------------------------------------------- */

#if GCM_X86

static int
gcm_cpu_fast(void)
{
	static int known, fast;	/* set once; every thread computes the same values */
	unsigned int a, b, c, d;

	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		int f = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES) && (c & bit_PCLMUL) &&
		    (c & bit_SSSE3);

		__atomic_store_n(&fast, f, __ATOMIC_RELAXED);
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&fast, __ATOMIC_RELAXED);
}

GCM_TARGET static inline __m128i
gcm_bswap(__m128i v)
{
	return _mm_shuffle_epi8(v, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	    13, 14, 15));
}

/* One step of the AES key schedule: k ^ (k << 32) ^ (k << 64) ^ (k << 96) ^ g. */
GCM_TARGET static inline __m128i
gcm_key_mix(__m128i k, __m128i g)
{
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	return _mm_xor_si128(k, g);
}

#define GCM_K128(i, rcon) rk[i] = gcm_key_mix(rk[(i) - 1], \
	_mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xff))
#define GCM_K256(i, rcon) \
	rk[i] = gcm_key_mix(rk[(i) - 2], \
	    _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xff))
#define GCM_K256B(i) \
	rk[i] = gcm_key_mix(rk[(i) - 2], \
	    _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], 0), 0xaa))

/* <hi:lo> (with the middle term mid still to add) is the carry-less product of two
 * byte-reversed elements: shift it left by one bit and reduce it modulo
 * x^128 + x^7 + x^2 + x + 1 (the reflected form of the GCM polynomial). */
GCM_TARGET static inline __m128i
gcm_reduce(__m128i lo, __m128i mid, __m128i hi)
{
	__m128i t2, t3, t4, t5, t6, t7, t8, t9;

	t3 = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
	t6 = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
	t7 = _mm_srli_epi32(t3, 31);
	t8 = _mm_srli_epi32(t6, 31);
	t3 = _mm_slli_epi32(t3, 1);
	t6 = _mm_slli_epi32(t6, 1);
	t9 = _mm_srli_si128(t7, 12);
	t8 = _mm_slli_si128(t8, 4);
	t7 = _mm_slli_si128(t7, 4);
	t3 = _mm_or_si128(t3, t7);
	t6 = _mm_or_si128(_mm_or_si128(t6, t8), t9);
	t7 = _mm_slli_epi32(t3, 31);
	t8 = _mm_slli_epi32(t3, 30);
	t9 = _mm_slli_epi32(t3, 25);
	t7 = _mm_xor_si128(_mm_xor_si128(t7, t8), t9);
	t8 = _mm_srli_si128(t7, 4);
	t7 = _mm_slli_si128(t7, 12);
	t3 = _mm_xor_si128(t3, t7);
	t2 = _mm_srli_epi32(t3, 1);
	t4 = _mm_srli_epi32(t3, 2);
	t5 = _mm_srli_epi32(t3, 7);
	t2 = _mm_xor_si128(_mm_xor_si128(t2, t4), _mm_xor_si128(t5, t8));
	t3 = _mm_xor_si128(t3, t2);
	return _mm_xor_si128(t6, t3);
}

/* lo, mid, hi ^= the carry-less product a * b (four 64x64 products). */
GCM_TARGET static inline void
gcm_clmul(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
	*lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
	*hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
	*mid = _mm_xor_si128(*mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x10),
	    _mm_clmulepi64_si128(a, b, 0x01)));
}

/* a * b for byte-reversed a and b; the result is byte-reversed too. */
GCM_TARGET static inline __m128i
gcm_gfmul(__m128i a, __m128i b)
{
	__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

	gcm_clmul(a, b, &lo, &mid, &hi);
	return gcm_reduce(lo, mid, hi);
}

GCM_TARGET static void
gcm_setkey_fast(mbedtls_gcm_context *ctx, const unsigned char *key, unsigned int keybits,
    const unsigned char h[16])
{
	__m128i rk[15], hp[4];
	int i;

	rk[0] = _mm_loadu_si128((const __m128i *)key);
	if (keybits == 128) {
		GCM_K128(1, 0x01); GCM_K128(2, 0x02); GCM_K128(3, 0x04); GCM_K128(4, 0x08);
		GCM_K128(5, 0x10); GCM_K128(6, 0x20); GCM_K128(7, 0x40); GCM_K128(8, 0x80);
		GCM_K128(9, 0x1b); GCM_K128(10, 0x36);
		ctx->nr = 10;
	} else {
		rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
		GCM_K256(2, 0x01); GCM_K256B(3); GCM_K256(4, 0x02); GCM_K256B(5);
		GCM_K256(6, 0x04); GCM_K256B(7); GCM_K256(8, 0x08); GCM_K256B(9);
		GCM_K256(10, 0x10); GCM_K256B(11); GCM_K256(12, 0x20); GCM_K256B(13);
		GCM_K256(14, 0x40);
		ctx->nr = 14;
	}
	for (i = 0; i <= ctx->nr; i++)
		_mm_storeu_si128((__m128i *)(ctx->rk + 16 * i), rk[i]);
	hp[0] = gcm_bswap(_mm_loadu_si128((const __m128i *)h));
	for (i = 1; i < 4; i++)
		hp[i] = gcm_gfmul(hp[i - 1], hp[0]);
	for (i = 0; i < 4; i++)
		_mm_storeu_si128((__m128i *)(ctx->hpow + 16 * i), hp[i]);
	mbedtls_platform_zeroize(rk, sizeof(rk));
}

GCM_TARGET static inline __m128i
gcm_rk(const mbedtls_gcm_context *ctx, int i)
{
	return _mm_loadu_si128((const __m128i *)(ctx->rk + 16 * i));
}

GCM_TARGET static void
gcm_block_fast(const mbedtls_gcm_context *ctx, const unsigned char in[16],
    unsigned char out[16])
{
	__m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)in), gcm_rk(ctx, 0));
	int r;

	for (r = 1; r < ctx->nr; r++)
		b = _mm_aesenc_si128(b, gcm_rk(ctx, r));
	_mm_storeu_si128((__m128i *)out, _mm_aesenclast_si128(b, gcm_rk(ctx, ctx->nr)));
}

GCM_TARGET static void
gcm_mult_fast(const mbedtls_gcm_context *ctx, unsigned char x[16])
{
	__m128i a = gcm_bswap(_mm_loadu_si128((const __m128i *)x));

	a = gcm_gfmul(a, _mm_loadu_si128((const __m128i *)ctx->hpow));
	_mm_storeu_si128((__m128i *)x, gcm_bswap(a));
}

/* n whole blocks of data at a block boundary: counter mode and GHASH, four at a time.
 * All four input blocks are read before any output is written, so output may be input
 * or lie before it (what mbedtls_gcm_update allows). */
GCM_TARGET static void
gcm_blocks_fast(mbedtls_gcm_context *ctx, const unsigned char *in, unsigned char *out,
    size_t n)
{
	const __m128i one = _mm_set_epi32(0, 0, 0, 1);
	const __m128i h1 = _mm_loadu_si128((const __m128i *)ctx->hpow);
	const __m128i h2 = _mm_loadu_si128((const __m128i *)(ctx->hpow + 16));
	const __m128i h3 = _mm_loadu_si128((const __m128i *)(ctx->hpow + 32));
	const __m128i h4 = _mm_loadu_si128((const __m128i *)(ctx->hpow + 48));
	/* The counter block byte-reversed: its low 32 bits are the big-endian counter,
	 * so that _mm_add_epi32 is inc32. */
	__m128i ctr = gcm_bswap(_mm_loadu_si128((const __m128i *)ctx->y));
	__m128i x = gcm_bswap(_mm_loadu_si128((const __m128i *)ctx->buf));
	int enc = ctx->mode == MBEDTLS_GCM_ENCRYPT, nr = ctx->nr, r;

	for (; n >= 4; n -= 4, in += 64, out += 64) {
		__m128i k = gcm_rk(ctx, 0), b0, b1, b2, b3, d0, d1, d2, d3;
		__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

		ctr = _mm_add_epi32(ctr, one);
		b0 = _mm_xor_si128(gcm_bswap(ctr), k);
		ctr = _mm_add_epi32(ctr, one);
		b1 = _mm_xor_si128(gcm_bswap(ctr), k);
		ctr = _mm_add_epi32(ctr, one);
		b2 = _mm_xor_si128(gcm_bswap(ctr), k);
		ctr = _mm_add_epi32(ctr, one);
		b3 = _mm_xor_si128(gcm_bswap(ctr), k);
		for (r = 1; r < nr; r++) {
			k = gcm_rk(ctx, r);
			b0 = _mm_aesenc_si128(b0, k);
			b1 = _mm_aesenc_si128(b1, k);
			b2 = _mm_aesenc_si128(b2, k);
			b3 = _mm_aesenc_si128(b3, k);
		}
		k = gcm_rk(ctx, nr);
		d0 = _mm_loadu_si128((const __m128i *)in);
		d1 = _mm_loadu_si128((const __m128i *)(in + 16));
		d2 = _mm_loadu_si128((const __m128i *)(in + 32));
		d3 = _mm_loadu_si128((const __m128i *)(in + 48));
		b0 = _mm_xor_si128(_mm_aesenclast_si128(b0, k), d0);
		b1 = _mm_xor_si128(_mm_aesenclast_si128(b1, k), d1);
		b2 = _mm_xor_si128(_mm_aesenclast_si128(b2, k), d2);
		b3 = _mm_xor_si128(_mm_aesenclast_si128(b3, k), d3);
		_mm_storeu_si128((__m128i *)out, b0);
		_mm_storeu_si128((__m128i *)(out + 16), b1);
		_mm_storeu_si128((__m128i *)(out + 32), b2);
		_mm_storeu_si128((__m128i *)(out + 48), b3);
		if (enc) {	/* GHASH runs over the ciphertext */
			d0 = b0;
			d1 = b1;
			d2 = b2;
			d3 = b3;
		}
		gcm_clmul(_mm_xor_si128(x, gcm_bswap(d0)), h4, &lo, &mid, &hi);
		gcm_clmul(gcm_bswap(d1), h3, &lo, &mid, &hi);
		gcm_clmul(gcm_bswap(d2), h2, &lo, &mid, &hi);
		gcm_clmul(gcm_bswap(d3), h1, &lo, &mid, &hi);
		x = gcm_reduce(lo, mid, hi);
	}
	for (; n > 0; n--, in += 16, out += 16) {
		__m128i d = _mm_loadu_si128((const __m128i *)in), b;

		ctr = _mm_add_epi32(ctr, one);
		b = _mm_xor_si128(gcm_bswap(ctr), gcm_rk(ctx, 0));
		for (r = 1; r < nr; r++)
			b = _mm_aesenc_si128(b, gcm_rk(ctx, r));
		b = _mm_xor_si128(_mm_aesenclast_si128(b, gcm_rk(ctx, nr)), d);
		_mm_storeu_si128((__m128i *)out, b);
		x = gcm_gfmul(_mm_xor_si128(x, gcm_bswap(enc ? b : d)), h1);
	}
	_mm_storeu_si128((__m128i *)ctx->y, gcm_bswap(ctr));
	_mm_storeu_si128((__m128i *)ctx->buf, gcm_bswap(x));
}

#endif /* GCM_X86 */

/* ---- the two paths behind one set of block operations --------------------------------- */

static void
gcm_mult(const mbedtls_gcm_context *ctx, unsigned char x[16])
{
#if GCM_X86
	if (ctx->fast) {
		gcm_mult_fast(ctx, x);
		return;
	}
#endif
	gcm_mult_soft(ctx, x);
}

static int
gcm_block(mbedtls_gcm_context *ctx, const unsigned char in[16], unsigned char out[16])
{
#if GCM_X86
	if (ctx->fast) {
		gcm_block_fast(ctx, in, out);
		return 0;
	}
#endif
	return mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, in, out);
}

/* Encrypts the counter block into ectr and applies use_len bytes of it from offset,
 * adding the ciphertext to the GHASH state (upstream's gcm_mask). */
static int
gcm_mask(mbedtls_gcm_context *ctx, unsigned char ectr[16], size_t offset, size_t use_len,
    const unsigned char *input, unsigned char *output)
{
	int ret = gcm_block(ctx, ctx->y, ectr);

	if (ret != 0) {
		mbedtls_platform_zeroize(ectr, 16);
		return ret;
	}
	if (ctx->mode == MBEDTLS_GCM_DECRYPT)
		gcm_xor(ctx->buf + offset, ctx->buf + offset, input, use_len);
	gcm_xor(output, ectr + offset, input, use_len);
	if (ctx->mode == MBEDTLS_GCM_ENCRYPT)
		gcm_xor(ctx->buf + offset, ctx->buf + offset, output, use_len);
	return 0;
}

/* n whole blocks at a block boundary. */
static int
gcm_blocks(mbedtls_gcm_context *ctx, const unsigned char *in, unsigned char *out, size_t n)
{
	unsigned char ectr[16];
	int ret;

#if GCM_X86
	if (ctx->fast) {
		gcm_blocks_fast(ctx, in, out, n);
		return 0;
	}
#endif
	for (; n > 0; n--, in += 16, out += 16) {
		gcm_incr(ctx->y);
		ret = gcm_mask(ctx, ectr, 0, 16, in, out);
		if (ret != 0)
			return ret;
		gcm_mult(ctx, ctx->buf);
	}
	mbedtls_platform_zeroize(ectr, sizeof(ectr));
	return 0;
}

/* ---- the mbedtls_gcm_* API -------------------------------------------------------------- */

void
mbedtls_gcm_init(mbedtls_gcm_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	mbedtls_aes_init(&ctx->aes);
}

int
mbedtls_gcm_setkey(mbedtls_gcm_context *ctx, mbedtls_cipher_id_t cipher,
    const unsigned char *key, unsigned int keybits)
{
	unsigned char h[16] = { 0 };
	int ret;

	if (keybits != 128 && keybits != 192 && keybits != 256)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (cipher != MBEDTLS_CIPHER_ID_AES)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	mbedtls_aes_free(&ctx->aes);
	mbedtls_aes_init(&ctx->aes);
	ctx->fast = 0;
	ret = mbedtls_aes_setkey_enc(&ctx->aes, key, keybits);
	if (ret == 0)
		ret = mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, h, h);
	if (ret != 0)
		return ret;
	ctx->h[0] = gcm_get64(h);
	ctx->h[1] = gcm_get64(h + 8);
#if GCM_X86
	if (keybits != 192 && !gcm_portable_only && gcm_cpu_fast()) {
		gcm_setkey_fast(ctx, key, keybits, h);
		ctx->fast = 1;
	}
#endif
	mbedtls_platform_zeroize(h, sizeof(h));
	return 0;
}

int
mbedtls_gcm_starts(mbedtls_gcm_context *ctx, int mode, const unsigned char *iv,
    size_t iv_len)
{
	unsigned char work[16];
	size_t use_len;

	/* IV is limited to 2^64 bits, so 2^61 bytes; not empty. */
	if (iv_len == 0 || (uint64_t)iv_len >> 61 != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	memset(ctx->y, 0, sizeof(ctx->y));
	memset(ctx->buf, 0, sizeof(ctx->buf));
	ctx->mode = (unsigned char)mode;
	ctx->len = 0;
	ctx->add_len = 0;
	if (iv_len == 12) {
		memcpy(ctx->y, iv, iv_len);
		ctx->y[15] = 1;
	} else {
		memset(work, 0, sizeof(work));
		gcm_put64(work + 8, (uint64_t)iv_len * 8);
		while (iv_len > 0) {
			use_len = iv_len < 16 ? iv_len : 16;
			gcm_xor(ctx->y, ctx->y, iv, use_len);
			gcm_mult(ctx, ctx->y);
			iv_len -= use_len;
			iv += use_len;
		}
		gcm_xor(ctx->y, ctx->y, work, 16);
		gcm_mult(ctx, ctx->y);
	}
	return gcm_block(ctx, ctx->y, ctx->base_ectr);
}

int
mbedtls_gcm_update_ad(mbedtls_gcm_context *ctx, const unsigned char *add, size_t add_len)
{
	uint64_t new_add_len;
	size_t use_len, offset;

	/* AD is limited to 2^64 bits, i.e. 2^61 bytes; also catch overflow. */
	new_add_len = ctx->add_len + (uint64_t)add_len;
	if (new_add_len < ctx->add_len || new_add_len >> 61 != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	offset = ctx->add_len % 16;
	if (offset != 0) {
		use_len = 16 - offset;
		if (use_len > add_len)
			use_len = add_len;
		gcm_xor(ctx->buf + offset, ctx->buf + offset, add, use_len);
		if (offset + use_len == 16)
			gcm_mult(ctx, ctx->buf);
		ctx->add_len += use_len;
		add_len -= use_len;
		add += use_len;
	}
	ctx->add_len += add_len;
	for (; add_len >= 16; add_len -= 16, add += 16) {
		gcm_xor(ctx->buf, ctx->buf, add, 16);
		gcm_mult(ctx, ctx->buf);
	}
	if (add_len > 0)
		gcm_xor(ctx->buf, ctx->buf, add, add_len);
	return 0;
}

int
mbedtls_gcm_update(mbedtls_gcm_context *ctx, const unsigned char *input, size_t input_length,
    unsigned char *output, size_t output_size, size_t *output_length)
{
	unsigned char ectr[16] = { 0 };
	size_t offset, use_len, n;
	int ret;

	if (output_size < input_length)
		return MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL;
	*output_length = input_length;
	/* Nothing to do; the last partial block of AD stays for mbedtls_gcm_finish. */
	if (input_length == 0)
		return 0;
	if (output > input && (size_t)(output - input) < input_length)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	/* Total length is restricted to 2^39 - 256 bits, i.e. 2^36 - 2^5 bytes. */
	if (ctx->len + input_length < ctx->len ||
	    (uint64_t)ctx->len + input_length > 0xFFFFFFFE0ull)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (ctx->len == 0 && ctx->add_len % 16 != 0)
		gcm_mult(ctx, ctx->buf);
	offset = ctx->len % 16;
	if (offset != 0) {
		use_len = 16 - offset;
		if (use_len > input_length)
			use_len = input_length;
		ret = gcm_mask(ctx, ectr, offset, use_len, input, output);
		if (ret != 0)
			return ret;
		if (offset + use_len == 16)
			gcm_mult(ctx, ctx->buf);
		ctx->len += use_len;
		input_length -= use_len;
		input += use_len;
		output += use_len;
	}
	ctx->len += input_length;
	n = input_length / 16;
	if (n > 0) {
		ret = gcm_blocks(ctx, input, output, n);
		if (ret != 0)
			return ret;
		input += 16 * n;
		output += 16 * n;
		input_length -= 16 * n;
	}
	if (input_length > 0) {
		gcm_incr(ctx->y);
		ret = gcm_mask(ctx, ectr, 0, input_length, input, output);
		if (ret != 0)
			return ret;
	}
	mbedtls_platform_zeroize(ectr, sizeof(ectr));
	return 0;
}

int
mbedtls_gcm_finish(mbedtls_gcm_context *ctx, unsigned char *output, size_t output_size,
    size_t *output_length, unsigned char *tag, size_t tag_len)
{
	unsigned char work[16];
	uint64_t bits = ctx->len * 8, add_bits = ctx->add_len * 8;

	/* GCM never holds back output; the parameters exist for other implementations. */
	(void)output;
	(void)output_size;
	*output_length = 0;
	if (ctx->len == 0 && ctx->add_len % 16 != 0)
		gcm_mult(ctx, ctx->buf);
	if (tag_len > 16 || tag_len < 4)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (ctx->len % 16 != 0)
		gcm_mult(ctx, ctx->buf);
	memcpy(tag, ctx->base_ectr, tag_len);
	if (bits || add_bits) {
		gcm_put64(work, add_bits);
		gcm_put64(work + 8, bits);
		gcm_xor(ctx->buf, ctx->buf, work, 16);
		gcm_mult(ctx, ctx->buf);
		gcm_xor(tag, tag, ctx->buf, tag_len);
	}
	return 0;
}

int
mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length,
    const unsigned char *iv, size_t iv_len, const unsigned char *add, size_t add_len,
    const unsigned char *input, unsigned char *output, size_t tag_len, unsigned char *tag)
{
	size_t olen;
	int ret;

	ret = mbedtls_gcm_starts(ctx, mode, iv, iv_len);
	if (ret == 0)
		ret = mbedtls_gcm_update_ad(ctx, add, add_len);
	if (ret == 0)
		ret = mbedtls_gcm_update(ctx, input, length, output, length, &olen);
	if (ret == 0)
		ret = mbedtls_gcm_finish(ctx, NULL, 0, &olen, tag, tag_len);
	return ret;
}

int
mbedtls_gcm_auth_decrypt(mbedtls_gcm_context *ctx, size_t length, const unsigned char *iv,
    size_t iv_len, const unsigned char *add, size_t add_len, const unsigned char *tag,
    size_t tag_len, const unsigned char *input, unsigned char *output)
{
	unsigned char check_tag[16];
	int ret;

	ret = mbedtls_gcm_crypt_and_tag(ctx, MBEDTLS_GCM_DECRYPT, length, iv, iv_len, add,
	    add_len, input, output, tag_len, check_tag);
	if (ret != 0)
		return ret;
	/* Compare in constant time; never hand out unauthenticated plaintext. */
	ret = mbedtls_ct_memcmp(tag, check_tag, tag_len) != 0 ? MBEDTLS_ERR_GCM_AUTH_FAILED : 0;
	if (ret != 0)
		mbedtls_platform_zeroize(output, length);
	mbedtls_platform_zeroize(check_tag, sizeof(check_tag));
	return ret;
}

void
mbedtls_gcm_free(mbedtls_gcm_context *ctx)
{
	if (ctx == NULL)
		return;
	mbedtls_aes_free(&ctx->aes);
	mbedtls_platform_zeroize(ctx, sizeof(*ctx));
}

#endif /* MBEDTLS_GCM_C && MBEDTLS_GCM_ALT */
