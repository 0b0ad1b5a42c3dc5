/*
 * yaml.c -- the kubeconfig YAML subset (k8s/yaml.h): lines are read first (indentation,
 * comments cut), then blocks are built from them by indentation, recursively.
 */
#include "k8s/yaml.h"

#include <stdbool.h>
#include <string.h>

struct yline {
	int indent;
	char *text;
};

struct yparse {
	struct yline *l;
	size_t n, i;
	struct arena *a;
	int depth;
};

static struct yaml_node *
ynew(struct arena *a, enum yaml_kind k)
{
	struct yaml_node *y = arena_zalloc(a, sizeof(*y));

	if (y != NULL)
		y->kind = k;
	return y;
}

static void
yadd(struct yaml_node *parent, struct yaml_node *c)
{
	if (parent == NULL || c == NULL)
		return;
	if (parent->last != NULL)
		parent->last->next = c;
	else
		parent->child = c;
	parent->last = c;
}

/* A YAML scalar: 'single' (with '' for '), "double" (common escapes) or plain. */
static const char *
yscalar(const char *s, struct arena *a)
{
	size_t n = strlen(s);
	char *o, *w;

	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		o = w = arena_alloc(a, n);
		for (size_t i = 1; o != NULL && i + 1 < n; i++) {
			*w++ = s[i];
			if (s[i] == '\'' && s[i + 1] == '\'')
				i++;
		}
		if (o != NULL)
			*w = '\0';
		return o;
	}
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		o = w = arena_alloc(a, n);
		for (size_t i = 1; o != NULL && i + 1 < n; i++) {
			if (s[i] == '\\' && i + 2 < n) {
				char x = s[++i];

				*w++ = x == 'n' ? '\n' : x == 't' ? '\t' : x == 'r' ? '\r' : x;
			} else {
				*w++ = s[i];
			}
		}
		if (o != NULL)
			*w = '\0';
		return o;
	}
	return s;
}

/* Offset of the ':' that ends a mapping key in s, or -1. */
static long
ykey_end(const char *s)
{
	char q = 0;

	for (const char *p = s; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
			continue;
		}
		if ((*p == '"' || *p == '\'') && p == s)
			q = *p;
		else if (*p == ':' && (p[1] == ' ' || p[1] == '\0'))
			return p - s;
	}
	return -1;
}

static bool
ydash(const char *s)
{
	return s[0] == '-' && (s[1] == ' ' || s[1] == '\0');
}

static struct yaml_node *yblock(struct yparse *p, int indent);

static struct yaml_node *
yvalue(struct yparse *p, const char *rest, int indent)
{
	struct yaml_node *v;

	if (*rest) {
		if (strcmp(rest, "[]") == 0)
			return ynew(p->a, YAML_SEQ);
		if (strcmp(rest, "{}") == 0)
			return ynew(p->a, YAML_MAP);
		v = ynew(p->a, YAML_SCALAR);
		/* A scalar without its text (the arena is full) is left out. */
		if (v != NULL && (v->val = yscalar(rest, p->a)) == NULL)
			return NULL;
		return v;
	}
	if (p->i < p->n &&
	    (p->l[p->i].indent > indent || (p->l[p->i].indent == indent && ydash(p->l[p->i].text))))
		return yblock(p, p->l[p->i].indent);
	v = ynew(p->a, YAML_SCALAR);
	if (v != NULL)
		v->val = "";
	return v;
}

static struct yaml_node *
yblock(struct yparse *p, int indent)
{
	struct yaml_node *node;

	if (p->i >= p->n || p->l[p->i].indent < indent || ++p->depth > YAML_DEPTH_MAX)
		return NULL;
	if (ydash(p->l[p->i].text)) {
		node = ynew(p->a, YAML_SEQ);
		while (node != NULL && p->i < p->n && p->l[p->i].indent == indent &&
		    ydash(p->l[p->i].text)) {
			struct yline *ln = &p->l[p->i];
			char *rest = ln->text + 1;

			while (*rest == ' ')
				rest++;
			if (!*rest) {
				p->i++;
				yadd(node, yvalue(p, "", indent));
			} else if (ykey_end(rest) >= 0) {
				/* "- key: v" starts a map whose keys line up with "key". */
				ln->indent += (int)(rest - ln->text);
				ln->text = rest;
				yadd(node, yblock(p, ln->indent));
			} else {
				p->i++;
				yadd(node, yvalue(p, rest, indent));
			}
		}
	} else {
		node = ynew(p->a, YAML_MAP);
		while (node != NULL && p->i < p->n && p->l[p->i].indent == indent &&
		    !ydash(p->l[p->i].text)) {
			char *t = p->l[p->i].text, *rest;
			long k = ykey_end(t);
			struct yaml_node *v;

			p->i++;
			if (k < 0)
				continue; /* not a mapping line: skip it */
			t[k] = '\0';
			rest = t + k + 1;
			while (*rest == ' ')
				rest++;
			v = yvalue(p, rest, indent);
			/* A member without its key (the arena is full) is left out. */
			if (v != NULL && (v->key = yscalar(t, p->a)) != NULL)
				yadd(node, v);
		}
	}
	p->depth--;
	return node;
}

struct yaml_node *
yaml_parse(char *text, struct arena *a)
{
	struct yparse p = { .a = a };
	size_t cap = 64;
	char *save = NULL;

	p.l = arena_alloc(a, cap * sizeof(*p.l));
	for (char *ln = strtok_r(text, "\n", &save); p.l != NULL && ln != NULL;
	     ln = strtok_r(NULL, "\n", &save)) {
		int ind = 0;
		char q = 0;
		size_t len;

		while (ln[ind] == ' ')
			ind++;
		/* Drop comments (a '#' at the start or after a space, outside quotes). */
		for (char *c = ln + ind; *c; c++) {
			if (q) {
				q = *c == q ? 0 : q;
			} else if (*c == '"' || *c == '\'') {
				q = *c;
			} else if (*c == '#' && (c == ln + ind || c[-1] == ' ')) {
				*c = '\0';
				break;
			}
		}
		len = strlen(ln);
		while (
		    len > 0 && (ln[len - 1] == ' ' || ln[len - 1] == '\r' || ln[len - 1] == '\t'))
			ln[--len] = '\0';
		if (!ln[ind] || strcmp(ln + ind, "---") == 0)
			continue;
		if (p.n == cap) {
			struct yline *nl = arena_alloc(a, 2 * cap * sizeof(*nl));

			if (nl == NULL)
				return NULL;
			memcpy(nl, p.l, cap * sizeof(*nl));
			p.l = nl;
			cap *= 2;
		}
		p.l[p.n++] = (struct yline){ ind, ln + ind };
	}
	return p.l != NULL ? yblock(&p, p.n ? p.l[0].indent : 0) : NULL;
}

const struct yaml_node *
yaml_get(const struct yaml_node *map, const char *key)
{
	if (map == NULL || map->kind != YAML_MAP)
		return NULL;
	for (const struct yaml_node *c = map->child; c != NULL; c = c->next)
		if (c->key != NULL && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

const char *
yaml_str(const struct yaml_node *map, const char *key)
{
	const struct yaml_node *v = yaml_get(map, key);

	return v != NULL && v->kind == YAML_SCALAR && *v->val ? v->val : NULL;
}
