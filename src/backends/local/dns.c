/*
 * dns.c -- the messages of a sandbox's DNS server: parse a query, build its reply (RFC 1035).
 *
 * Pure bytes in, bytes out: no system calls, no allocation. The query is untrusted (any
 * process in the sandbox can send one), so every read is bounded by the message length,
 * compression pointers must point strictly backwards (no loops), and a name is held to
 * RFC 1035 §2.3.4: labels of at most 63 octets, at most 255 octets on the wire (253
 * characters dotted). A name whose labels hold anything but letters, digits, '-' and '_'
 * is answered REFUSED: the egress policy only speaks of host names.
 *
 * The reply echoes the question as it was asked, case included: resolvers that randomise
 * the case of their queries (draft-vixie-dnsext-dns0x20) compare it. Each answer names
 * the question by a pointer to offset 12 (RFC 1035 §4.1.4), the only compression written.
 */
#include "backends/local/internal.h"

#include <string.h>

#define DNS_QR            0x8000
#define DNS_OPCODE(f)     (((f) >> 11) & 0xf)
#define DNS_TC            0x0200
#define DNS_RD            0x0100
#define DNS_RA            0x0080
#define DNS_CD            0x0010
#define DNS_LABEL_MAX     63
#define DNS_WIRE_NAME_MAX 255 /* RFC 1035 §3.1, length octets included */
#define DNS_HOPS_MAX      32  /* pointers followed in one name */
#define DNS_ANSWER_LEN    16  /* pointer, type, class, ttl, rdlength, address */

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static bool
dns_label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

/* Reads the name at msg[*pos], following pointers, into q->qraw (uncompressed, as sent)
 * and q->name (dotted, lower case), and sets *pos past the name where it is stored.
 * DNS_NOERROR, DNS_REFUSED (a character outside dns_label_char; the name is read whole
 * all the same) or DNS_FORMERR (truncated, a bad label type, a bad pointer, too long). */
static int
dns_read_name(const uint8_t *msg, size_t len, size_t *pos, struct dns_query *q)
{
	size_t p = *pos, run = *pos, wire = 0, dotted = 0, end = 0;
	int hops = 0, rc = DNS_NOERROR;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return DNS_FORMERR;
		c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			size_t to;

			if (p + 1 >= len)
				return DNS_FORMERR;
			to = (size_t)(c & 0x3f) << 8 | msg[p + 1];
			/* Each target lies before the last one (the first before the name),
			 * so the walk ends. */
			if (to >= run || ++hops > DNS_HOPS_MAX)
				return DNS_FORMERR;
			if (end == 0)
				end = p + 2;
			p = run = to;
			continue;
		}
		if (c > DNS_LABEL_MAX)
			return DNS_FORMERR; /* 0x40 extended (RFC 6891 §5), 0x80 reserved */
		if (wire + 1 + c > DNS_WIRE_NAME_MAX || p + 1 + c > len)
			return DNS_FORMERR;
		memcpy(q->qraw + wire, msg + p, 1 + (size_t)c);
		wire += 1 + (size_t)c;
		if (c == 0)
			break;
		if (dotted > 0)
			q->name[dotted++] = '.';
		for (size_t i = 1; i <= c; i++) {
			uint8_t ch = msg[p + i];

			if (!dns_label_char(ch))
				rc = DNS_REFUSED;
			q->name[dotted++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 'a' - 'A' : ch);
		}
		p += 1 + (size_t)c;
	}
	q->name[dotted] = '\0';
	q->qrawlen = wire;
	*pos = end != 0 ? end : p + 1;
	return rc;
}

int
dns_parse(const uint8_t *msg, size_t len, struct dns_query *q)
{
	size_t pos = DNS_HDR;
	int rc;

	memset(q, 0, sizeof(*q));
	if (len < DNS_HDR || (get16(msg + 2) & DNS_QR) != 0)
		return -1;
	q->id = get16(msg);
	q->flags = get16(msg + 2);
	if (DNS_OPCODE(q->flags) != 0 || get16(msg + 4) != 1) {
		q->rcode = DNS_NOTIMP;
		return 0;
	}
	rc = dns_read_name(msg, len, &pos, q);
	if (rc == DNS_FORMERR || pos + 4 > len) {
		q->name[0] = '\0';
		q->qrawlen = 0;
		q->rcode = DNS_FORMERR;
		return 0;
	}
	q->qtype = get16(msg + pos);
	q->qclass = get16(msg + pos + 2);
	memcpy(q->qraw + q->qrawlen, msg + pos, 4);
	q->qrawlen += 4;
	q->rcode = rc;
	if (rc != DNS_NOERROR)
		q->name[0] = '\0'; /* not a host name: nothing to judge or to log */
	/* Answer, authority and additional records (an EDNS OPT) are not read. */
	return 0;
}

size_t
dns_reply(const struct dns_query *q, int rcode, const uint8_t (*a4)[4], size_t na4, uint32_t ttl,
    uint8_t *out, size_t cap)
{
	uint16_t flags = (uint16_t)(DNS_QR | DNS_RA | (q->flags & (DNS_RD | DNS_CD)) |
	    (rcode & 0xf));
	uint16_t qd = 0, an = 0;
	size_t n = DNS_HDR;

	if (cap < DNS_HDR)
		return 0;
	if (q->qrawlen > 0 && q->qrawlen <= sizeof(q->qraw)) {
		if (n + q->qrawlen <= cap) {
			memcpy(out + n, q->qraw, q->qrawlen);
			n += q->qrawlen;
			qd = 1;
		} else {
			flags |= DNS_TC;
		}
	}
	if (qd == 1 && rcode == DNS_NOERROR && q->qtype == DNS_T_A && q->qclass == DNS_C_IN) {
		for (size_t i = 0; i < na4; i++) {
			uint8_t *r = out + n;

			if (n + DNS_ANSWER_LEN > cap || an == UINT16_MAX) {
				flags |= DNS_TC;
				break;
			}
			put16(r, 0xc000 | DNS_HDR);
			put16(r + 2, DNS_T_A);
			put16(r + 4, DNS_C_IN);
			put16(r + 6, (uint16_t)(ttl >> 16));
			put16(r + 8, (uint16_t)ttl);
			put16(r + 10, 4);
			memcpy(r + 12, a4[i], 4);
			n += DNS_ANSWER_LEN;
			an++;
		}
	}
	put16(out, q->id);
	put16(out + 2, flags);
	put16(out + 4, qd);
	put16(out + 6, an);
	put16(out + 8, 0);
	put16(out + 10, 0);
	return n;
}
