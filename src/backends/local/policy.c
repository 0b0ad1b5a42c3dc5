/*
 * policy.c -- the egress policy of a local sandbox (OpenSandbox's model), the operator's
 * ceiling over it, and the addresses no sandbox reaches unless the operator opens them.
 *
 * Pure functions over struct npol: parsing targets, merging as OpenSandbox's egress sidecar
 * does (components/egress: PATCH puts the request's rules first), first-match judging of a
 * name or an address, and the classes of addresses that are always refused. The relay
 * (judge.c) judges; the server (lifecycle.c) validates and stores.
 */
#include "backends/local/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json/json.h"
#include "json/jsonw.h"

#define FLAG "--local-egress"

/* ---- names and addresses ------------------------------------------------------------ */

bool
npol_name_norm(const char *name, char *out, size_t cap)
{
	size_t n = strlen(name), lab = 0;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > NPOL_NAME_MAX || n + 1 > cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (lab == 0)
				return false; /* empty label */
			lab = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++lab > 63)
				return false;
		} else {
			return false;
		}
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	return lab > 0; /* "a.." ends in an empty label */
}

void
npol_addr_str(int family, const uint8_t *addr, int port, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(family, addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (port <= 0)
		snprintf(out, cap, "%s", a);
	else if (family == AF_INET6)
		snprintf(out, cap, "[%s]:%d", a, port);
	else
		snprintf(out, cap, "%s:%d", a, port);
}

static bool
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

struct range {
	uint8_t net[16];
	uint8_t bits;
	const char *why;
};

/* IPv4 classes, most specific first. */
static const struct range v4_ranges[] = {
	{ { 169, 254, 169, 254 }, 32, "cloud metadata" },
	{ { 169, 254, 170, 2 }, 32, "cloud metadata" },
	{ { 100, 100, 100, 200 }, 32, "cloud metadata" }, /* Alibaba Cloud */
	{ { 168, 63, 129, 16 }, 32, "cloud metadata" },   /* Azure's wire server */
	{ { 0, 0, 0, 0 }, 8, "unspecified" },
	{ { 10, 0, 0, 0 }, 8, "private" },
	{ { 100, 64, 0, 0 }, 10, "carrier-grade NAT" },
	{ { 127, 0, 0, 0 }, 8, "loopback" },
	{ { 169, 254, 0, 0 }, 16, "link-local" },
	{ { 172, 16, 0, 0 }, 12, "private" },
	{ { 192, 168, 0, 0 }, 16, "private" },
	{ { 198, 18, 0, 0 }, 15, "reserved" }, /* the sandbox DNS's own */
	{ { 224, 0, 0, 0 }, 4, "multicast" },
	{ { 240, 0, 0, 0 }, 4, "reserved" },
};

static const struct range v6_ranges[] = {
	{ { 0xfd, 0x00, 0x0e, 0xc2, [15] = 0x54, [14] = 0x02 }, 128, "cloud metadata" },
	{ { 0 }, 128, "unspecified" },
	{ { [15] = 1 }, 128, "loopback" },
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, "private" }, /* local-use NAT64 */
	{ { 0x01, 0x00 }, 64, "reserved" },                        /* discard */
	{ { 0x20, 0x01, 0x00, 0x00 }, 32, "reserved" },            /* Teredo */
	{ { 0xfc }, 7, "private" },                                /* unique local */
	{ { 0xfe, 0x80 }, 10, "link-local" },
	{ { 0xfe, 0xc0 }, 10, "private" }, /* site-local */
	{ { 0xff }, 8, "multicast" },
};

static const char *
in_ranges(const struct range *r, size_t n, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_eq(addr, r[i].net, r[i].bits))
			return r[i].why;
	return NULL;
}

/* The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), if any. */
static bool
v6_embedded(const uint8_t *a, uint8_t v4[4])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[12] = { 0 };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 ||
	    (memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14]) != 0)) {
		memcpy(v4, a + 12, 4);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:V4ADDR::/48 */
		memcpy(v4, a + 2, 4);
		return true;
	}
	return false;
}

const char *
npol_addr_class(int family, const uint8_t *addr)
{
	uint8_t v4[4];

	if (family == AF_INET)
		return in_ranges(v4_ranges, sizeof(v4_ranges) / sizeof(v4_ranges[0]), addr);
	if (family != AF_INET6)
		return "unsupported";
	if (v6_embedded(addr, v4))
		return npol_addr_class(AF_INET, v4);
	return in_ranges(v6_ranges, sizeof(v6_ranges) / sizeof(v6_ranges[0]), addr);
}

/* ---- targets ------------------------------------------------------------------------ */

static int
parse_addr(const char *s, struct npol_rule *r)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	long bits = -1;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(r->addr, 0, sizeof(r->addr));
	if (inet_pton(AF_INET, buf, r->addr) == 1)
		r->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, r->addr) == 1)
		r->family = AF_INET6;
	else
		return -1;
	if (slash != NULL) {
		char *end;

		if (!isdigit((unsigned char)slash[1]))
			return -2;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits > (r->family == AF_INET ? 32 : 128))
			return -2;
	}
	r->prefix = (uint8_t)(bits >= 0 ? bits : r->family == AF_INET ? 32 : 128);
	/* Clear the host bits, so 10.1.2.3/8 means 10.0.0.0/8. */
	for (unsigned i = r->prefix; i < (r->family == AF_INET ? 32u : 128u); i++)
		r->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	return 0;
}

int
npol_target_parse(const char *s, bool allow, struct npol_rule *r, char *why, size_t cap)
{
	char t[NPOL_NAME_MAX + 3];
	size_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	r->allow = allow;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0) {
		snprintf(why, cap, "an empty target is not a domain, address or CIDR");
		return -1;
	}
	if (n >= sizeof(t)) {
		snprintf(why, cap, "target \"%.40s...\" is longer than a domain can be", s);
		return -1;
	}
	memcpy(t, s, n);
	t[n] = '\0';
	if ((rc = parse_addr(t, r)) == 0) {
		r->kind = NPOL_ADDR;
		npol_addr_str(r->family, r->addr, 0, r->target, sizeof(r->target));
		if (r->prefix != (r->family == AF_INET ? 32 : 128)) {
			size_t l = strlen(r->target);

			snprintf(r->target + l, sizeof(r->target) - l, "/%u", r->prefix);
		}
		return 0;
	}
	if (rc == -2) {
		snprintf(why, cap, "target \"%.60s\" has a bad prefix length", t);
		return -1;
	}
	if (t[0] == '*' && t[1] == '.') {
		r->kind = NPOL_WILDCARD;
		r->target[0] = '*';
		r->target[1] = '.';
		if (npol_name_norm(t + 2, r->target + 2, sizeof(r->target) - 2))
			return 0;
	} else {
		r->kind = NPOL_DOMAIN;
		if (npol_name_norm(t, r->target, sizeof(r->target)))
			return 0;
	}
	snprintf(why, cap,
	    "target \"%.60s\" is not a domain (example.com), a wildcard "
	    "(*.example.com), an IP address or a CIDR",
	    t);
	return -1;
}

static int
rules_alloc(struct npol *p, size_t n, struct arena *a, struct err *e)
{
	if (n > NPOL_RULES_MAX)
		return err_set(e, ERR_INVAL, "a network policy holds at most %d rules, not %zu",
		    NPOL_RULES_MAX, n);
	p->rules = n > 0 ? arena_zalloc(a, n * sizeof(*p->rules)) : NULL;
	p->n = 0;
	if (n > 0 && p->rules == NULL)
		return err_set(e, ERR_TOOBIG, "no memory for %zu network rules", n);
	return 0;
}

static bool
rule_named(const struct npol *p, const char *target)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->rules[i].target, target) == 0)
			return true;
	return false;
}

/* Appends the targets of list as rules, skipping targets already named (first wins). */
static int
add_list(struct npol *p, const char *const *list, size_t n, bool allow, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		struct npol_rule r;
		char why[160];

		if (npol_target_parse(list[i], allow, &r, why, sizeof(why)) != 0)
			return err_set(e, ERR_INVAL, "network %s rule: %s",
			    allow ? "allow" : "deny", why);
		if (!rule_named(p, r.target))
			p->rules[p->n++] = r;
	}
	return 0;
}

int
npol_from_lists(struct npol *p, bool allow_default, const struct net_policy *np, struct arena *a,
    struct err *e)
{
	p->allow = np->default_action >= 0 ? np->default_action == 1 : allow_default;
	if (rules_alloc(p, np->nallow + np->ndeny, a, e) != 0)
		return e->code;
	if (add_list(p, np->deny, np->ndeny, false, e) != 0 ||
	    add_list(p, np->allow, np->nallow, true, e) != 0)
		return e->code;
	return 0;
}

int
npol_merge(struct npol *cur, const struct net_policy *req, bool replace, struct arena *a,
    struct err *e)
{
	struct npol m;
	size_t keep = replace ? 0 : cur->n;

	if (npol_from_lists(&m, cur->allow, req, a, e) != 0)
		return e->code;
	if (keep > 0) {
		struct npol_rule *r = m.rules;
		size_t n = m.n, kept = 0;

		for (size_t i = 0; i < cur->n; i++) {
			bool named = false;

			for (size_t k = 0; k < n && !named; k++)
				named = strcmp(r[k].target, cur->rules[i].target) == 0;
			kept += !named;
		}
		if (rules_alloc(&m, n + kept, a, e) != 0)
			return e->code;
		if (n > 0)
			memcpy(m.rules, r, n * sizeof(*r));
		m.n = n;
		for (size_t i = 0; i < cur->n; i++) {
			bool named = false;

			for (size_t k = 0; k < n && !named; k++)
				named = strcmp(m.rules[k].target, cur->rules[i].target) == 0;
			if (!named)
				m.rules[m.n++] = cur->rules[i];
		}
	}
	*cur = m;
	return 0;
}

void
npol_to_lists(const struct npol *p, struct net_policy *out, struct arena *a)
{
	size_t na = 0, nd = 0;

	out->default_action = p->allow ? 1 : 0;
	out->allow = arena_zalloc(a, (p->n + 1) * sizeof(char *));
	out->deny = arena_zalloc(a, (p->n + 1) * sizeof(char *));
	if (out->allow == NULL || out->deny == NULL) {
		out->nallow = out->ndeny = 0;
		return;
	}
	for (size_t i = 0; i < p->n; i++) {
		const char *t = arena_strdup(a, p->rules[i].target);

		if (p->rules[i].allow)
			out->allow[na++] = t;
		else
			out->deny[nd++] = t;
	}
	out->nallow = na;
	out->ndeny = nd;
}

/* ---- the operator's ceiling ----------------------------------------------------------- */

int
npol_parse_flag(const char *spec, struct npol *out, struct arena *a, struct err *e)
{
	size_t n = 1, i = 0;
	const char *s = spec;
	bool first = true, has_default = false;

	memset(out, 0, sizeof(*out));
	out->allow = true;
	for (const char *c = spec; *c != '\0'; c++)
		n += *c == ',';
	if (strncasecmp(spec, "allow", 5) == 0 || strncasecmp(spec, "deny", 4) == 0) {
		const char *rest = spec + (tolower((unsigned char)spec[0]) == 'a' ? 5 : 4);

		if (*rest == ',' || *rest == '\0')
			n--; /* the default is not a rule */
	}
	if (rules_alloc(out, n, a, e) != 0)
		return e->code;
	while (s != NULL) {
		const char *comma = strchr(s, ',');
		size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
		char item[NPOL_NAME_MAX + 8], why[160];
		struct npol_rule r;

		if (len >= sizeof(item))
			return err_set(e, ERR_INVAL, FLAG " %.40s...: an item is too long", spec);
		memcpy(item, s, len);
		item[len] = '\0';
		s = comma != NULL ? comma + 1 : NULL;
		if (first && (strcasecmp(item, "allow") == 0 || strcasecmp(item, "deny") == 0)) {
			out->allow = strcasecmp(item, "allow") == 0;
			has_default = true;
		} else if (npol_target_parse(item, true, &r, why, sizeof(why)) != 0) {
			return err_set(e, ERR_INVAL,
			    FLAG " %.60s: %s; give allow, deny, or "
			         "comma-separated domains, *.wildcards, addresses and CIDRs",
			    spec, why);
		} else if (!rule_named(out, r.target)) {
			out->rules[out->n++] = r;
		}
		first = false;
		i++;
	}
	if (!has_default)
		out->allow = out->n == 0;
	if (!has_default && out->n == 0)
		return err_set(e, ERR_INVAL, FLAG " needs allow, deny or a list of targets");
	return 0;
}

/* Whether an allowing rule r of a sandbox is covered by one of the ceiling's. */
static bool
covered(const struct npol *ceiling, const struct npol_rule *r)
{
	for (size_t i = 0; i < ceiling->n; i++) {
		const struct npol_rule *c = &ceiling->rules[i];
		size_t lc = strlen(c->target), lr = strlen(r->target);

		if (!c->allow)
			continue;
		if (c->kind == NPOL_ADDR && r->kind == NPOL_ADDR) {
			if (c->family == r->family && c->prefix <= r->prefix &&
			    prefix_eq(r->addr, c->addr, c->prefix))
				return true;
		} else if (c->kind == NPOL_DOMAIN && r->kind == NPOL_DOMAIN) {
			if (strcmp(c->target, r->target) == 0)
				return true;
		} else if (c->kind == NPOL_WILDCARD && r->kind != NPOL_ADDR) {
			/* *.example.com covers a.example.com and *.a.example.com (and itself). */
			const char *suffix = c->target + 1; /* ".example.com" */
			const char *name = r->kind == NPOL_WILDCARD ? r->target + 1 : r->target;
			size_t ls = lc - 1, ln = strlen(name);

			(void)lr;
			if (ln >= ls && strcmp(name + ln - ls, suffix) == 0)
				return true;
		}
	}
	return false;
}

/* IPv6 prefixes that carry IPv4 addresses (some of them private). */
static const struct range v6_carriers[] = {
	{ { [10] = 0xff, [11] = 0xff }, 96, "private" }, /* IPv4-mapped */
	{ { 0 }, 96, "private" },                        /* IPv4-compatible */
	{ { 0x00, 0x64, 0xff, 0x9b }, 96, "private" },   /* NAT64 */
	{ { 0x20, 0x02 }, 16, "private" },               /* 6to4 */
};

/* Whether an allowing rule of the ceiling covers the whole prefix. */
static bool
ceiling_covers(const struct npol *ceiling, int family, const uint8_t *addr, unsigned bits)
{
	for (size_t i = 0; i < ceiling->n; i++) {
		const struct npol_rule *c = &ceiling->rules[i];

		if (c->allow && c->kind == NPOL_ADDR && c->family == family && c->prefix <= bits &&
		    prefix_eq(addr, c->addr, c->prefix))
			return true;
	}
	return false;
}

/* The class of an always-refused range an allowing address rule reaches into (NULL: none,
 * or the ceiling opens all of it). */
static const char *
overlap_in(const struct npol *ceiling, const struct npol_rule *r, const struct range *t, size_t n)
{
	/* First a range holding the whole rule (its own class), then any inside it. */
	for (size_t k = 0; k < 2 * n; k++) {
		size_t i = k % n;
		unsigned common = r->prefix < t[i].bits ? r->prefix : t[i].bits;

		if ((k < n) != (t[i].bits <= r->prefix) || !prefix_eq(r->addr, t[i].net, common))
			continue;
		/* The overlap is the narrower of the two. */
		if (!ceiling_covers(ceiling, r->family, r->prefix >= t[i].bits ? r->addr : t[i].net,
		        r->prefix >= t[i].bits ? r->prefix : t[i].bits))
			return t[i].why;
	}
	return NULL;
}

static const char *
rule_refused(const struct npol *ceiling, const struct npol_rule *r)
{
	uint8_t v4[4];
	struct npol_rule e;

	if (r->family == AF_INET)
		return overlap_in(ceiling, r, v4_ranges, sizeof(v4_ranges) / sizeof(v4_ranges[0]));
	if (r->prefix >= 96 && v6_embedded(r->addr, v4)) {
		/* Judged as the IPv4 it carries (the ceiling may open it either way). */
		if (ceiling_covers(ceiling, AF_INET6, r->addr, r->prefix))
			return NULL;
		e = *r;
		e.family = AF_INET;
		memset(e.addr, 0, sizeof(e.addr));
		memcpy(e.addr, v4, 4);
		e.prefix = (uint8_t)(r->prefix - 96);
		return overlap_in(ceiling, &e, v4_ranges, sizeof(v4_ranges) / sizeof(v4_ranges[0]));
	}
	return overlap_in(ceiling, r, v6_ranges, sizeof(v6_ranges) / sizeof(v6_ranges[0])) != NULL
	    ? overlap_in(ceiling, r, v6_ranges, sizeof(v6_ranges) / sizeof(v6_ranges[0]))
	    : overlap_in(ceiling, r, v6_carriers, sizeof(v6_carriers) / sizeof(v6_carriers[0]));
}

int
npol_within(const struct npol *ceiling, const struct npol *req, struct err *e)
{
	if (req->allow && !ceiling->allow)
		return err_set(e, ERR_INVAL,
		    "default allow would widen this server's egress "
		    "ceiling (" FLAG " %s); keep default deny and allow only what the ceiling "
		    "allows",
		    ceiling->n > 0 ? "list" : "deny");
	for (size_t i = 0; i < req->n; i++) {
		const struct npol_rule *r = &req->rules[i];
		const char *why;

		if (!r->allow)
			continue;
		if (r->kind == NPOL_ADDR && (why = rule_refused(ceiling, r)) != NULL)
			return err_set(e, ERR_INVAL,
			    "allow %s: %s addresses stay refused to "
			    "sandboxes unless the operator opens them (" FLAG ")",
			    r->target, why);
		if (!ceiling->allow && !covered(ceiling, r))
			return err_set(e, ERR_INVAL,
			    "allow %s would widen this server's egress "
			    "ceiling (" FLAG "); only targets within it may be allowed",
			    r->target);
	}
	return 0;
}

/* ---- judging ------------------------------------------------------------------------- */

const struct npol_rule *
npol_match_name(const struct npol *p, const char *name)
{
	size_t ln = strlen(name);

	for (size_t i = 0; i < p->n; i++) {
		const struct npol_rule *r = &p->rules[i];

		if (r->kind == NPOL_DOMAIN && strcmp(r->target, name) == 0)
			return r;
		if (r->kind == NPOL_WILDCARD) {
			size_t ls = strlen(r->target) - 1; /* ".example.com" */

			if (ln > ls && strcmp(name + ln - ls, r->target + 1) == 0)
				return r;
		}
	}
	return NULL;
}

const struct npol_rule *
npol_match_addr(const struct npol *p, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct npol_rule *r = &p->rules[i];

		if (r->kind == NPOL_ADDR && r->family == family &&
		    prefix_eq(addr, r->addr, r->prefix))
			return r;
	}
	return NULL;
}

bool
npol_opened(const struct npol *p, int family, const uint8_t *addr)
{
	const struct npol_rule *r = npol_match_addr(p, family, addr);

	return r != NULL && r->allow;
}

/* ---- JSON ---------------------------------------------------------------------------- */

void
npol_write_json(struct jsonw *w, const struct npol *p)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "default", p->allow ? "allow" : "deny");
	jsonw_key(w, "rules");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < p->n; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "action", p->rules[i].allow ? "allow" : "deny");
		jsonw_kstr(w, "target", p->rules[i].target);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

int
npol_read_json(const struct json *j, struct npol *p, struct arena *a, struct err *e)
{
	const struct json *rules, *it;
	const char *def;

	memset(p, 0, sizeof(*p));
	p->allow = true;
	if (j == NULL || j->type == JSON_NULL)
		return 0;
	if (j->type == JSON_STRING) { /* before per-domain rules: "allow" or "deny" */
		p->allow = strcmp(j->s, "allow") == 0;
		return 0;
	}
	if (j->type != JSON_OBJECT)
		return err_set(e, ERR_PROTO, "the network policy is not an object");
	def = json_get_str(j, "default");
	p->allow = def == NULL || strcmp(def, "deny") != 0;
	rules = json_get(j, "rules");
	if (rules == NULL || rules->type != JSON_ARRAY)
		return 0;
	if (rules_alloc(p, rules->count, a, e) != 0)
		return e->code;
	for (it = rules->head; it != NULL; it = it->next) {
		const char *act = json_get_str(it, "action"), *t = json_get_str(it, "target");
		char why[160];

		if (t == NULL ||
		    npol_target_parse(t, act != NULL && strcmp(act, "allow") == 0, &p->rules[p->n],
		        why, sizeof(why)) != 0)
			return err_set(e, ERR_PROTO, "a stored network rule is broken: %s",
			    t != NULL ? why : "no target");
		p->n++;
	}
	return 0;
}
