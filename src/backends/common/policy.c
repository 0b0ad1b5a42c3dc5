/* policy.c -- checking and merging egress policies (contract in policy.h). */
#include "backends/common/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* kruise's network.IsCIDROrIP: inet_pton of the address, then a decimal prefix length. */
bool
policy_is_addr(const char *target)
{
	const char *slash = strchr(target, '/');
	size_t n = slash != NULL ? (size_t)(slash - target) : strlen(target);
	unsigned char addr[16];
	char host[64], *end;
	bool v6;
	long bits;

	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, target, n);
	host[n] = '\0';
	v6 = strchr(host, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1)
		return false;
	if (slash == NULL)
		return true;
	if (!isdigit((unsigned char)slash[1]))
		return false;
	bits = strtol(slash + 1, &end, 10);
	return *end == '\0' && bits >= 0 && bits <= (v6 ? 128 : 32);
}

bool
policy_same(const char *a, const char *b)
{
	if (policy_is_addr(a) || policy_is_addr(b))
		return strcmp(a, b) == 0;
	return strcasecmp(a, b) == 0;
}

static bool
list_has(const char *const *v, size_t n, const char *t)
{
	for (size_t i = 0; i < n; i++)
		if (policy_same(v[i], t))
			return true;
	return false;
}

bool
policy_names(const struct net_policy *np, const char *target)
{
	return list_has(np->allow, np->nallow, target) || list_has(np->deny, np->ndeny, target);
}

static int
check_target(const char *t, bool deny, const char *platform, unsigned flags, struct err *e)
{
	if (t == NULL || *t == '\0')
		return err_set(e, ERR_INVAL,
		    "an empty network %s rule is not a domain, address "
		    "or CIDR block",
		    deny ? "deny" : "allow");
	for (const char *p = t; *p != '\0'; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return err_set(e, ERR_INVAL,
			    "network %s rule '%s' holds a space or a control "
			    "character; give one domain, address or CIDR block per rule",
			    deny ? "deny" : "allow", t);
	if (deny && (flags & POLICY_DENY_ADDRS) != 0 && !policy_is_addr(t))
		return err_set(e, ERR_UNSUPPORTED,
		    "%s deny rules take IP addresses and CIDR "
		    "blocks only, not '%s'; to keep a sandbox away from a domain, set default deny "
		    "and allow only what it needs",
		    platform, t);
	return 0;
}

int
policy_check(const struct net_policy *np, const char *platform, unsigned flags, struct err *e)
{
	int rc;

	if (np == NULL)
		return 0;
	for (size_t i = 0; i < np->nallow; i++)
		if ((rc = check_target(np->allow[i], false, platform, flags, e)) != 0)
			return rc;
	for (size_t i = 0; i < np->ndeny; i++)
		if ((rc = check_target(np->deny[i], true, platform, flags, e)) != 0)
			return rc;
	return 0;
}

/* Appends the targets of v that dst does not hold yet and skip (when non-NULL) does not
 * name. */
static void
list_merge(const char **dst, size_t *n, const char *const *v, size_t nv,
    const struct net_policy *skip)
{
	for (size_t i = 0; i < nv; i++) {
		if (list_has(dst, *n, v[i]) || (skip != NULL && policy_names(skip, v[i])))
			continue;
		dst[(*n)++] = v[i];
	}
}

int
policy_merge(const struct net_policy *cur, const struct net_policy *req, bool replace,
    struct policy_merged *out, struct arena *a, struct err *e)
{
	size_t keep_allow = replace ? 0 : cur->nallow, keep_deny = replace ? 0 : cur->ndeny;
	struct net_policy *np = &out->np;

	memset(out, 0, sizeof(*out));
	np->default_action = req->default_action >= 0 ? req->default_action : cur->default_action;
	np->allow = arena_alloc(a, (req->nallow + keep_allow + 1) * sizeof(*np->allow));
	np->deny = arena_alloc(a, (req->ndeny + keep_deny + 1) * sizeof(*np->deny));
	if (np->allow == NULL || np->deny == NULL)
		return err_set(e, ERR_TOOBIG, "the merged network policy does not fit in memory");
	list_merge(np->allow, &np->nallow, req->allow, req->nallow, NULL);
	list_merge(np->deny, &np->ndeny, req->deny, req->ndeny, NULL);
	out->nallow_req = np->nallow;
	out->ndeny_req = np->ndeny;
	list_merge(np->allow, &np->nallow, cur->allow, keep_allow, req);
	list_merge(np->deny, &np->ndeny, cur->deny, keep_deny, req);
	return 0;
}
