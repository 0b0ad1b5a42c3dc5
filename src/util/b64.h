/*
 * b64.h -- standard base64 (RFC 4648 §4) with padding.
 *
 * b64_encode writes b64_encoded_len(n) bytes plus a NUL into out.
 * b64_decode accepts padded or unpadded input, ignores ASCII whitespace, rejects any
 * other byte, '=' that is misplaced or not the count the length needs, and non-zero
 * padding bits; returns the decoded length or -1. out needs b64_decoded_max(len) bytes.
 */
#ifndef UTIL_B64_H
#define UTIL_B64_H

#include <stddef.h>
#include <sys/types.h>

size_t b64_encoded_len(size_t n);
size_t b64_decoded_max(size_t len);
void b64_encode(const unsigned char *in, size_t n, char *out);
ssize_t b64_decode(const char *in, size_t len, unsigned char *out);

#endif
