/*
 * test_local_dns.c -- the sandbox DNS server's messages (src/backends/local/dns.c): queries
 * as resolvers send them, compression pointers good and bad, names at and past their
 * limits, the errors each fault gets, and replies byte for byte, truncated with TC when
 * cap is small. Every query is parsed from the end of a page with a PROT_NONE page after
 * it, and at every length, so no read past the message goes unnoticed.
 */
#include "backends/local/internal.h"

#include <stdlib.h>
#include <string.h>

#include "split.h"
#include "tap.h"

#define GLIBC_FLAGS 0x0120 /* RD and AD, as glibc's res_mkquery with EDNS sets */

/* A query: header (id, flags, counts), then the question's name bytes as given, then
 * type and class, then an EDNS OPT record when ar is 1. Returns its length. */
static size_t
query(uint8_t *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t ns, uint16_t ar,
    const char *name, size_t nlen, uint16_t qtype, uint16_t qclass)
{
	static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xb0, 0, 0, 0, 0, 0, 0 };
	size_t n = 0;

	m[n++] = (uint8_t)(id >> 8);
	m[n++] = (uint8_t)id;
	m[n++] = (uint8_t)(flags >> 8);
	m[n++] = (uint8_t)flags;
	m[n++] = (uint8_t)(qd >> 8);
	m[n++] = (uint8_t)qd;
	m[n++] = 0;
	m[n++] = 0;
	m[n++] = (uint8_t)(ns >> 8);
	m[n++] = (uint8_t)ns;
	m[n++] = (uint8_t)(ar >> 8);
	m[n++] = (uint8_t)ar;
	memcpy(m + n, name, nlen);
	n += nlen;
	m[n++] = (uint8_t)(qtype >> 8);
	m[n++] = (uint8_t)qtype;
	m[n++] = (uint8_t)(qclass >> 8);
	m[n++] = (uint8_t)qclass;
	if (ar == 1) {
		memcpy(m + n, opt, sizeof(opt));
		n += sizeof(opt);
	}
	return n;
}

/* dns_parse on a copy of m[0..len) that ends where a guard page begins. */
static int
parse_guarded(const uint8_t *m, size_t len, struct dns_query *q)
{
	const uint8_t *g = (const uint8_t *)guard_copy((const char *)m, len);
	int rc = dns_parse(g, len, q);

	guard_retire();
	return rc;
}

static bool
same_bytes(const uint8_t *got, size_t glen, const uint8_t *want, size_t wlen)
{
	if (glen == wlen && memcmp(got, want, wlen) == 0)
		return true;
	note("  got %zu bytes, want %zu", glen, wlen);
	for (size_t i = 0; i < glen || i < wlen; i++) {
		if (i >= glen || i >= wlen || got[i] != want[i]) {
			note("  first difference at byte %zu", i);
			break;
		}
	}
	return false;
}

static void
test_glibc_query(void)
{
	static const char name[] = "\7example\3com";
	static const uint8_t want[] = { 0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, 7, 'e', 'x',
		'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0,
		0, 0, 60, 0, 4, 93, 184, 215, 14, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2,
		3, 4 };
	static const uint8_t a4[][4] = { { 93, 184, 215, 14 }, { 1, 2, 3, 4 } };
	uint8_t m[512], out[512];
	struct dns_query q;
	size_t len, n;
	bool prefixes = true;

	len = query(m, 0xbeef, GLIBC_FLAGS, 1, 0, 1, name, sizeof(name), DNS_T_A, DNS_C_IN);
	is_int(parse_guarded(m, len, &q), 0, "glibc's A query with an EDNS OPT record parses");
	is_int(q.rcode, DNS_NOERROR, "  to be answered");
	is_int(q.id, 0xbeef, "  id");
	is_int(q.flags, GLIBC_FLAGS, "  flags as asked");
	is_int(q.qtype, DNS_T_A, "  type A");
	is_int(q.qclass, DNS_C_IN, "  class IN");
	is_str(q.name, "example.com", "  name dotted, no trailing dot");
	ok(same_bytes(q.qraw, q.qrawlen, want + 12, 17), "  qraw is the question as sent");

	n = dns_reply(&q, DNS_NOERROR, a4, 2, 60, out, sizeof(out));
	ok(same_bytes(out, n, want, sizeof(want)),
	    "reply: QR RD RA, question echoed, two A records by pointer to offset 12");

	/* Every shorter read: a header alone is dropped, a cut question is FORMERR, and
	 * once the question is whole the cut OPT record does not matter. */
	for (size_t k = 0; k < len; k++) {
		int rc = parse_guarded(m, k, &q);
		int want_rc = k < 12 ? -1 : 0;
		int want_rcode = k < 12 + 17 ? DNS_FORMERR : DNS_NOERROR;

		if (rc != want_rc || (rc == 0 && q.rcode != want_rcode) ||
		    (rc == 0 && q.rcode == DNS_FORMERR && q.qrawlen != 0)) {
			note("  prefix of %zu bytes: rc %d rcode %d qrawlen %zu", k, rc, q.rcode,
			    q.qrawlen);
			prefixes = false;
		}
	}
	ok(prefixes, "every prefix: <12 dropped, cut question FORMERR, cut OPT ignored");
}

static void
test_case_randomised(void)
{
	static const char name[] = "\3wWw\7ExAmPlE\3CoM";
	uint8_t m[512], out[512];
	struct dns_query q;
	size_t len, n;
	static const uint8_t a4[][4] = { { 10, 0, 0, 1 } };

	len = query(m, 7, 0x0100, 1, 0, 0, name, sizeof(name), DNS_T_A, DNS_C_IN);
	is_int(parse_guarded(m, len, &q), 0, "0x20-randomised query parses");
	is_str(q.name, "www.example.com", "  name lower-cased for the policy");
	ok(q.qrawlen == sizeof(name) + 4 && memcmp(q.qraw, name, sizeof(name)) == 0,
	    "  qraw keeps the case as sent");
	n = dns_reply(&q, DNS_NOERROR, a4, 1, 5, out, sizeof(out));
	ok(n == 12 + sizeof(name) + 4 + 16 && memcmp(out + 12, name, sizeof(name)) == 0,
	    "  reply echoes the question in the case it was asked");
}

static void
test_pointers(void)
{
	uint8_t m[512];
	struct dns_query q;
	size_t len;

	/* QDCOUNT's high byte (offset 4) is 0: a pointer there ends the name. */
	len = query(m, 1, 0, 1, 0, 0, "\3www\xc0\x04", 6, DNS_T_A, DNS_C_IN);
	is_int(parse_guarded(m, len, &q), 0, "a compression pointer into the header");
	is_int(q.rcode, DNS_NOERROR, "  is followed");
	is_str(q.name, "www", "  name");
	ok(q.qrawlen == 9 && memcmp(q.qraw, "\3www\0\0\1\0\1", 9) == 0, "  qraw is uncompressed");
	is_int(q.qtype, DNS_T_A, "  type read after the pointer, not after its target");

	/* NSCOUNT (offset 8) holds a pointer to offset 4: a chain of two. */
	len = query(m, 1, 0, 1, 0xc004, 0, "\3www\xc0\x08", 6, DNS_T_AAAA, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOERROR && strcmp(q.name, "www") == 0 &&
	        q.qtype == DNS_T_AAAA,
	    "a pointer to a pointer");

	len = query(m, 1, 0, 1, 0, 0, "\xc0\x0c", 2, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR && q.qrawlen == 0,
	    "a pointer to itself: FORMERR");
	len = query(m, 1, 0, 1, 0, 0, "\1a\xc0\x0c", 4, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR,
	    "a pointer back to the start of its own name: FORMERR");
	len = query(m, 1, 0, 1, 0xc008, 0, "\3www\xc0\x08", 6, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR,
	    "a loop inside the header: FORMERR");
	len = query(m, 1, 0, 1, 0, 0, "\xc0\x10\0\1\0\1\0", 7, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR, "a pointer forwards: FORMERR");
	len = query(m, 1, 0, 1, 0, 0, "\xff\xff", 2, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR,
	    "a pointer past the message: FORMERR");
	len = query(m, 1, 0, 1, 0, 0, "\3www\xc0", 5, 0, 0) - 4;
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR,
	    "a pointer cut after its first byte: FORMERR");
}

/* A name of four labels of the given lengths, in wire form; returns its length. */
static size_t
long_name(char *out, int l0, int l1, int l2, int l3)
{
	int lens[4] = { l0, l1, l2, l3 };
	size_t k = 0;

	for (int lab = 0; lab < 4; lab++) {
		out[k++] = (char)lens[lab];
		for (int i = 0; i < lens[lab]; i++)
			out[k++] = (char)('a' + (lab + i) % 26);
	}
	out[k++] = 0;
	return k;
}

static void
test_limits(void)
{
	char name[300];
	uint8_t m[600], out[512];
	struct dns_query q;
	size_t len, n, k;
	uint8_t a4[20][4];

	memset(a4, 7, sizeof(a4));
	/* 63 + 63 + 63 + 61 characters and three dots: 253, 255 octets on the wire. */
	k = long_name(name, 63, 63, 63, 61);
	len = query(m, 2, 0, 1, 0, 0, name, k, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOERROR &&
	        strlen(q.name) == NPOL_NAME_MAX && q.qrawlen == 259,
	    "a name of 253 characters (255 octets) is taken");
	n = dns_reply(&q, DNS_NOERROR, a4, 20, 1, out, DNS_UDP_MAX);
	ok(n == 12 + 259 + 15 * 16 && (out[2] & 0x02) != 0 && out[7] == 15,
	    "  its reply in 512 bytes holds 15 of 20 answers, with TC");

	k = long_name(name, 63, 63, 63, 62);
	len = query(m, 2, 0, 1, 0, 0, name, k, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR && q.qrawlen == 0,
	    "a name of 256 octets: FORMERR");

	memset(name, 'a', sizeof(name));
	name[0] = 63;
	name[64] = 0;
	len = query(m, 2, 0, 1, 0, 0, name, 65, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOERROR && strlen(q.name) == 63,
	    "a label of 63 octets is taken");
	name[0] = 64;
	name[65] = 0;
	len = query(m, 2, 0, 1, 0, 0, name, 66, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR,
	    "a label of 64 (label type 0x40): FORMERR");
	name[0] = (char)0x80;
	len = query(m, 2, 0, 1, 0, 0, name, 66, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR, "label type 0x80: FORMERR");
	len = query(m, 2, 0, 1, 0, 0,
	          "\x05"
	          "abc",
	          4, DNS_T_A, DNS_C_IN) -
	    4;
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR && q.qrawlen == 0,
	    "a label running past the message: FORMERR");

	len = query(m, 2, 0, 1, 0, 0, "", 1, 2, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOERROR && q.name[0] == '\0' &&
	        q.qrawlen == 5 && q.qtype == 2,
	    "the root (NS .) is the empty name");
}

static void
test_refused(void)
{
	static const struct {
		const char *p;
		size_t n;
	} bad[] = { { "\3w w\3com", 9 }, { "\3a.b", 5 }, { "\3a\0b", 5 }, { "\4caf\xc3", 6 },
		{ "\3a*b", 5 }, { "\1/", 3 } };
	uint8_t m[512], out[512];
	struct dns_query q;
	size_t len, n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = query(m, 3, 0x0100, 1, 0, 0, bad[i].p, bad[i].n, DNS_T_A, DNS_C_IN);
		ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_REFUSED &&
		        q.qrawlen == bad[i].n + 4 && memcmp(q.qraw, bad[i].p, bad[i].n) == 0 &&
		        q.name[0] == '\0',
		    "a label with a byte outside [A-Za-z0-9_-] (case %zu): "
		    "REFUSED, question kept",
		    i);
	}
	len = query(m, 3, 0x0100, 1, 0, 0, "\4_dns\3a-b\0", 10, 16, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOERROR &&
	        strcmp(q.name, "_dns.a-b") == 0,
	    "'_' and '-' are taken");

	len = query(m, 3, 0x0100, 1, 0, 0, "\3w w\3com", 9, DNS_T_A, DNS_C_IN);
	dns_parse(m, len, &q);
	n = dns_reply(&q, q.rcode, NULL, 0, 0, out, sizeof(out));
	ok(n == 12 + 13 && out[3] == (0x80 | DNS_REFUSED) && out[5] == 1 && out[7] == 0 &&
	        memcmp(out + 12, "\3w w\3com\0\0\1\0\1", 13) == 0,
	    "the REFUSED reply echoes the question and has no answer");
}

static void
test_header_errors(void)
{
	uint8_t m[512], out[512];
	struct dns_query q;
	size_t len, n;
	static const uint8_t want[] = { 0, 9, 0x81, 0x80 | DNS_NOTIMP, 0, 0, 0, 0, 0, 0, 0, 0 };

	len = query(m, 9, 0x0100, 1, 0, 0, "\1a", 3, DNS_T_A, DNS_C_IN);
	m[2] |= 0x80;
	is_int(parse_guarded(m, len, &q), -1, "a response (QR set) is dropped");
	is_int(parse_guarded(m, 11, &q), -1, "11 bytes are dropped");
	len = query(m, 9, 0x0100, 1, 0, 0, "", 0, 0, 0) - 4;
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR && q.qrawlen == 0,
	    "a header alone with QDCOUNT 1: FORMERR");

	len = query(m, 9, 0x0100 | 2 << 11, 1, 0, 0, "\1a", 3, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOTIMP && q.qrawlen == 0,
	    "opcode STATUS: NOTIMP");
	n = dns_reply(&q, q.rcode, NULL, 0, 0, out, sizeof(out));
	ok(same_bytes(out, n, want, sizeof(want)), "  its reply is a bare header, opcode 0");
	len = query(m, 9, 0x0100 | 5 << 11, 1, 0, 0, "\1a", 3, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOTIMP, "opcode UPDATE: NOTIMP");
	len = query(m, 9, 0x0100, 0, 0, 0, "", 0, 0, 0) - 4;
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOTIMP && q.qrawlen == 0,
	    "no question: NOTIMP");
	len = query(m, 9, 0x0100, 2, 0, 0, "\1a\0\0\1\0\1\1b", 10, DNS_T_A, DNS_C_IN);
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_NOTIMP, "two questions: NOTIMP");
	len = query(m, 9, 0x0100, 1, 0, 0, "\1a", 3, DNS_T_A, DNS_C_IN) - 1;
	ok(parse_guarded(m, len, &q) == 0 && q.rcode == DNS_FORMERR && q.qrawlen == 0,
	    "a class cut short: FORMERR");
}

static void
test_reply(void)
{
	static const char name[] = "\1a\2bc";
	static const uint8_t a4[][4] = { { 1, 1, 1, 1 }, { 2, 2, 2, 2 }, { 3, 3, 3, 3 } };
	uint8_t m[512], out[512];
	struct dns_query q;
	size_t len, n, qlen = 12 + sizeof(name) + 4;

	len = query(m, 0x1234, 0x0110, 1, 0, 0, name, sizeof(name), DNS_T_A, DNS_C_IN);
	dns_parse(m, len, &q);
	n = dns_reply(&q, DNS_NOERROR, a4, 3, 0x01020304, out, sizeof(out));
	ok(n == qlen + 48 && out[2] == 0x81 && out[3] == 0x90 && out[7] == 3,
	    "RD and CD are echoed, RA set, AD not");
	ok(memcmp(out + qlen, "\xc0\x0c\0\1\0\1\1\2\3\4\0\4\1\1\1\1", 16) == 0,
	    "  an answer: pointer, A, IN, ttl, rdlength, address");

	n = dns_reply(&q, DNS_NOERROR, a4, 3, 1, out, qlen + 16 + 15);
	ok(n == qlen + 16 && (out[2] & 0x02) && out[7] == 1,
	    "cap for one answer and a bit: one answer, TC");
	n = dns_reply(&q, DNS_NOERROR, a4, 3, 1, out, qlen);
	ok(n == qlen && (out[2] & 0x02) && out[5] == 1 && out[7] == 0,
	    "cap for the question only: no answer, TC");
	n = dns_reply(&q, DNS_NOERROR, a4, 3, 1, out, qlen - 1);
	ok(n == 12 && (out[2] & 0x02) && out[5] == 0 && out[7] == 0 && out[0] == 0x12,
	    "cap short of the question: a header with TC");
	is_int(dns_reply(&q, DNS_NOERROR, a4, 3, 1, out, 11), 0, "cap 11: nothing");
	n = dns_reply(&q, DNS_NOERROR, a4, 0, 1, out, sizeof(out));
	ok(n == qlen && !(out[2] & 0x02) && out[7] == 0, "no addresses: NOERROR, no answer");
	n = dns_reply(&q, DNS_NXDOMAIN, a4, 3, 1, out, sizeof(out));
	ok(n == qlen && out[3] == (0x90 | DNS_NXDOMAIN) && out[7] == 0,
	    "NXDOMAIN: the question, no answer, whatever addresses are given");
	n = dns_reply(&q, DNS_SERVFAIL, NULL, 0, 1, out, sizeof(out));
	ok(n == qlen && out[3] == (0x90 | DNS_SERVFAIL), "SERVFAIL");

	len = query(m, 0x1234, 0x0100, 1, 0, 0, name, sizeof(name), DNS_T_AAAA, DNS_C_IN);
	dns_parse(m, len, &q);
	n = dns_reply(&q, DNS_NOERROR, a4, 3, 1, out, sizeof(out));
	ok(n == qlen && out[7] == 0, "AAAA: NOERROR with no answer (no IPv6 records)");
	len = query(m, 0x1234, 0x0100, 1, 0, 0, name, sizeof(name), DNS_T_A, 3);
	dns_parse(m, len, &q);
	n = dns_reply(&q, DNS_NOERROR, a4, 3, 1, out, sizeof(out));
	ok(n == qlen && out[7] == 0, "class CH: no answer");
}

int
main(void)
{
	test_glibc_query();
	test_case_randomised();
	test_pointers();
	test_limits();
	test_refused();
	test_header_errors();
	test_reply();
	return done_testing();
}
