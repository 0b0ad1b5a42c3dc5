/*
 * cache.c -- what the E2B backend knows about each sandbox it has seen: its envd token
 * (from create, info or --k8s) and the egress policy we set, which kruise's GET does not
 * tell in full. Entries live until the sandbox is killed or the backend is freed.
 */
#include "backends/e2b/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

struct sbx *
e2b_sbx_get(struct backend *b, const char *id, bool create)
{
	struct sbx *s;

	for (s = b->sbxs; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	if (!create)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->id = xstrdup(id);
	s->net_default = -1;
	s->next = b->sbxs;
	b->sbxs = s;
	return s;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
e2b_sbx_free(struct sbx *s)
{
	free(s->id);
	free(s->token);
	strv_free(s->allow, s->nallow);
	strv_free(s->deny, s->ndeny);
	free(s);
}

void
e2b_token_remember(struct backend *b, const char *id, const char *token)
{
	struct sbx *s;

	log_add_secret(token); /* envd tokens never reach a log line or a result */
	pthread_mutex_lock(&b->mu);
	s = e2b_sbx_get(b, id, true);
	free(s->token);
	s->token = xstrdup(token != NULL ? token : "");
	pthread_mutex_unlock(&b->mu);
}

const char *
e2b_token_lookup(struct backend *b, const char *id, struct arena *a)
{
	const char *t = NULL;
	struct sbx *s;

	pthread_mutex_lock(&b->mu);
	s = e2b_sbx_get(b, id, false);
	if (s != NULL && s->token != NULL)
		t = arena_strdup(a, s->token);
	pthread_mutex_unlock(&b->mu);
	return t;
}

void
e2b_sbx_forget(struct backend *b, const char *id)
{
	pthread_mutex_lock(&b->mu);
	for (struct sbx **pp = &b->sbxs; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			struct sbx *s = *pp;

			*pp = s->next;
			e2b_sbx_free(s);
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
}

static char **
strv_dup(const char **v, size_t n)
{
	char **out = n ? xcalloc(n, sizeof(*out)) : NULL;

	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void
e2b_net_remember(struct backend *b, const char *id, const struct net_policy *np)
{
	struct sbx *s;

	pthread_mutex_lock(&b->mu);
	s = e2b_sbx_get(b, id, true);
	strv_free(s->allow, s->nallow);
	strv_free(s->deny, s->ndeny);
	s->has_net = true;
	s->net_default = np != NULL ? np->default_action : -1;
	s->allow = np != NULL ? strv_dup(np->allow, np->nallow) : NULL;
	s->nallow = np != NULL ? np->nallow : 0;
	s->deny = np != NULL ? strv_dup(np->deny, np->ndeny) : NULL;
	s->ndeny = np != NULL ? np->ndeny : 0;
	pthread_mutex_unlock(&b->mu);
}
