/*
 * policy.h -- egress policies (struct net_policy, backend.h) on the remote platforms:
 * checking targets before a platform sees them, and merging a change into the current
 * policy.
 *
 * A target is a domain name ("pypi.org"), a wildcard ("*.example.com"), an IP address or
 * a CIDR block. One case rule decides when two targets are the same: domain names and
 * wildcards compare case-insensitively (ASCII, as DNS does, RFC 4343), addresses and
 * CIDR blocks byte for byte. OpenSandbox's sidecar takes all four kinds in allow and deny
 * rules; E2B/OpenKruise takes all four in allow rules but only addresses and CIDR blocks
 * in deny rules (POLICY_DENY_ADDRS).
 *
 * Merge (the network_policy tool without replace): the request's rules come first and
 * override the current rule for the same target, in either list; the current rules the
 * request does not name are kept after them; a target repeated within one list is kept
 * once (the first). The default is the request's when it sets one, else the current one.
 * Replace keeps none of the current rules (the default still falls back to cur's, so a
 * caller that wants the platform's default on replace passes it in cur).
 *
 * Owns:    nothing. The merged lists are arrays from the caller's arena; their strings
 *          are the request's and the current policy's own pointers.
 * Errors:  policy_check: ERR_INVAL (an empty target or one with spaces or control
 *          characters), ERR_UNSUPPORTED (a domain in a deny rule under POLICY_DENY_ADDRS);
 *          policy_merge: ERR_TOOBIG when the arena is full.
 * Threads: any; pure functions.
 */
#ifndef BACKENDS_COMMON_POLICY_H
#define BACKENDS_COMMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/backend.h"
#include "util/arena.h"
#include "util/err.h"

#define POLICY_DENY_ADDRS 1u /* deny rules take addresses and CIDR blocks only */

/* True for an IP address (v4 or v6) or a CIDR block with a valid prefix length. */
bool policy_is_addr(const char *target);

/* The case rule: true when a and b name the same target. */
bool policy_same(const char *a, const char *b);

/* True when np names target in its allow or deny list. */
bool policy_names(const struct net_policy *np, const char *target);

/* Checks every target of np (NULL passes) for what `platform` (a name for the sentence,
 * "E2B/OpenKruise") accepts. */
int policy_check(const struct net_policy *np, const char *platform, unsigned flags, struct err *e);

/* The merge above. In np, each list holds the request's targets first: allow[0..nallow_req)
 * and deny[0..ndeny_req) came from req, so a first-match platform can be sent the
 * request's rules before the kept ones. */
struct policy_merged {
	struct net_policy np;
	size_t nallow_req, ndeny_req;
};

int policy_merge(const struct net_policy *cur, const struct net_policy *req, bool replace,
    struct policy_merged *out, struct arena *a, struct err *e);

#endif
