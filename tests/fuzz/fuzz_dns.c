/*
 * fuzz_dns.c -- libFuzzer target for the sandbox DNS server's messages (dns_parse and
 * dns_reply, src/backends/local/dns.c).
 *
 * Input: the query as it would arrive in one datagram; its first byte also picks how many
 * addresses the reply carries. Checks (abort on violation):
 *  - dns_parse drops (-1) exactly what is shorter than a header or a response;
 *  - a query to answer has a lower-case host name of at most 253 characters, and its
 *    question, written into a fresh query, parses again to the same name, type, class and
 *    bytes (a fixed point);
 *  - a refused name still has its question, a malformed one has none;
 *  - dns_reply into caps from 0 to 4096 never writes past cap, returns 0 exactly when
 *    cap < 12, echoes the id and the question, sets QR and RA, and counts its answers
 *    right, with TC set exactly when an answer or the question did not fit; opcode, AA,
 *    Z and AD are clear.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/local/internal.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_dns: %s\n", what);
	abort();
}

static void
check_name(const struct dns_query *q)
{
	size_t n = strlen(q->name);

	if (n > NPOL_NAME_MAX || (n > 0 && (q->name[0] == '.' || q->name[n - 1] == '.')))
		fail("name too long or with an outer dot");
	for (size_t i = 0; i < n; i++) {
		char c = q->name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        (c == '.' && q->name[i + 1] != '.')))
			fail("name is not a lower-case host name");
	}
	if (q->qrawlen != (n == 0 ? 1 : n + 2) + 4)
		fail("qraw does not match the name");
}

/* The question of q, put into a query of its own, must parse to the same question. */
static void
check_round_trip(const struct dns_query *q)
{
	uint8_t m[DNS_HDR + sizeof(q->qraw)];
	struct dns_query q2;

	memset(m, 0, DNS_HDR);
	m[5] = 1;
	memcpy(m + DNS_HDR, q->qraw, q->qrawlen);
	if (dns_parse(m, DNS_HDR + q->qrawlen, &q2) != 0 || q2.rcode != q->rcode ||
	    strcmp(q2.name, q->name) != 0 || q2.qtype != q->qtype || q2.qclass != q->qclass ||
	    q2.qrawlen != q->qrawlen || memcmp(q2.qraw, q->qraw, q->qrawlen) != 0)
		fail("the question does not parse back to itself");
}

static void
check_reply(const struct dns_query *q, int rcode, const uint8_t (*a4)[4], size_t na4, size_t cap)
{
	uint8_t *out = malloc(cap ? cap : 1); /* exactly cap: ASan sees any overrun */
	size_t n = dns_reply(q, rcode, a4, na4, 300, out, cap);
	size_t qd, an, want_an = 0;
	bool tc, full;

	if (cap < DNS_HDR) {
		if (n != 0)
			fail("a reply in a cap under 12");
		free(out);
		return;
	}
	if (n < DNS_HDR || n > cap)
		fail("reply length out of range");
	qd = (size_t)(out[4] << 8 | out[5]);
	an = (size_t)(out[6] << 8 | out[7]);
	tc = (out[2] & 0x02) != 0;
	if ((out[0] << 8 | out[1]) != q->id || (out[2] & 0x80) == 0 || (out[3] & 0x80) == 0 ||
	    (out[3] & 0x0f) != rcode || (out[2] & 0x7c) != 0 || (out[3] & 0x60) != 0)
		fail("reply header");
	full = q->qrawlen > 0 && DNS_HDR + q->qrawlen <= cap;
	if (qd != (full ? 1u : 0u) || (qd && memcmp(out + DNS_HDR, q->qraw, q->qrawlen) != 0))
		fail("question not echoed");
	if (full && rcode == DNS_NOERROR && q->qtype == DNS_T_A && q->qclass == DNS_C_IN)
		want_an = na4;
	if (an > want_an || n != DNS_HDR + qd * q->qrawlen + an * 16)
		fail("answer count or length");
	if (tc != (an < want_an || (q->qrawlen > 0 && !full)))
		fail("TC wrong");
	for (size_t i = 0; i < an; i++) {
		const uint8_t *r = out + DNS_HDR + q->qrawlen + i * 16;

		if (memcmp(r, "\xc0\x0c\0\1\0\1\0\0\1\x2c\0\4", 12) != 0 ||
		    memcmp(r + 12, a4[i], 4) != 0)
			fail("answer bytes");
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 0, 11, 12, 13, 30, 64, 100, 300, DNS_UDP_MAX, 4096 };
	uint8_t a4[16][4];
	uint8_t *msg = malloc(size ? size : 1); /* exactly size: ASan sees any over-read */
	struct dns_query q;
	size_t na4 = size > 0 ? data[0] % 17 : 0;
	int rc;

	if (size > 0)
		memcpy(msg, data, size);
	for (size_t i = 0; i < 16; i++)
		for (size_t j = 0; j < 4; j++)
			a4[i][j] = (uint8_t)(i * 16 + j);
	rc = dns_parse(msg, size, &q);
	if (rc != ((size < DNS_HDR || (data[2] & 0x80)) ? -1 : 0))
		fail("dns_parse dropped the wrong messages");
	if (rc != 0) {
		free(msg);
		return 0;
	}
	if (q.rcode != DNS_NOERROR && q.rcode != DNS_FORMERR && q.rcode != DNS_NOTIMP &&
	    q.rcode != DNS_REFUSED)
		fail("unexpected rcode");
	if (q.rcode == DNS_NOERROR) {
		check_name(&q);
		check_round_trip(&q);
	} else if (q.rcode == DNS_REFUSED) {
		if (q.qrawlen < 5 || q.name[0] != '\0')
			fail("refused without its question, or with a name");
		check_round_trip(&q);
	} else if (q.qrawlen != 0 || q.name[0] != '\0') {
		fail("a question kept for FORMERR or NOTIMP");
	}
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		check_reply(&q, q.rcode, (const uint8_t(*)[4])a4, na4, caps[i]);
		check_reply(&q, DNS_NXDOMAIN, (const uint8_t(*)[4])a4, na4, caps[i]);
	}
	free(msg);
	return 0;
}
