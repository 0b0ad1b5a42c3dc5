/* b64.c -- base64 encode and strict decode. */
#include "util/b64.h"

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
b64_decoded_max(size_t len)
{
	return len / 4 * 3 + 3;
}

void
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i;
	char *o = out;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		*o++ = b64_alpha[v >> 18];
		*o++ = b64_alpha[(v >> 12) & 63];
		*o++ = b64_alpha[(v >> 6) & 63];
		*o++ = b64_alpha[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);

		*o++ = b64_alpha[v >> 18];
		*o++ = b64_alpha[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict where it matters: only the standard alphabet, '=' only at the end and only
 * as many as the length needs ("Zg==", "Zm8=", or none), and the unused low bits of
 * the last character zero (RFC 4648 §3.5), so each byte string has one encoding.
 */
ssize_t
b64_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned acc = 0;
	int bits = 0, pad = 0;
	size_t i, o = 0, nd = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		v = b64_val(c);
		if (v < 0)
			return -1;
		nd++;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6 || (pad > 0 && (nd + (size_t)pad) % 4 != 0))
		return -1;
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1; /* non-zero padding bits */
	return (ssize_t)o;
}
