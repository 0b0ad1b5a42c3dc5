/*
 * fuzz_yaml.c -- libFuzzer target for k8s/yaml.h, the kubeconfig YAML reader.
 *
 * The input (up to its first NUL) is the document. For every input:
 *  - yaml_parse gives NULL or a map or seq root, and every node of the tree is sound: a
 *    known kind; a scalar has a text and no members; a map's members have keys and a
 *    seq's have none; `last` is the last member; keys and texts are strings no longer
 *    than the input; nesting stays within YAML_DEPTH_MAX blocks;
 *  - yaml_get finds the first member with a key and yaml_str agrees with it;
 *  - parsing the same text again gives the same tree;
 *  - with an arena too small for the document the tree may be partial or NULL, but it
 *    is sound all the same.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/yaml.h"
#include "util/arena.h"

#define FUZZ_ARENA_MAX (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_yaml: %s\n", what);
	abort();
}

/* Checks n and its members; returns the number of nodes. */
static size_t
check_node(const struct yaml_node *n, int depth, size_t size)
{
	const struct yaml_node *c, *prev = NULL;
	size_t count = 1;

	if (depth > YAML_DEPTH_MAX + 2)
		fail("nesting deeper than YAML_DEPTH_MAX");
	if (n->key != NULL && strlen(n->key) > size)
		fail("key longer than the input");
	switch (n->kind) {
	case YAML_SCALAR:
		if (n->val == NULL)
			fail("scalar without text");
		if (strlen(n->val) > size)
			fail("scalar longer than the input");
		if (n->child != NULL || n->last != NULL)
			fail("scalar with members");
		return 1;
	case YAML_MAP:
	case YAML_SEQ:
		break;
	default:
		fail("unknown kind");
	}
	for (c = n->child; c != NULL; c = c->next) {
		if (n->kind == YAML_MAP && c->key == NULL)
			fail("map member without a key");
		if (n->kind == YAML_SEQ && c->key != NULL)
			fail("seq member with a key");
		count += check_node(c, depth + 1, size);
		if (count > 4 * size + 8)
			fail("more nodes than the input can hold (a cycle?)");
		prev = c;
	}
	if (n->last != prev)
		fail("last is not the last member");
	if (n->kind == YAML_MAP) {
		for (c = n->child; c != NULL; c = c->next) {
			const struct yaml_node *first = n->child;
			const char *s = yaml_str(n, c->key);

			while (strcmp(first->key, c->key) != 0)
				first = first->next;
			if (yaml_get(n, c->key) != first)
				fail("yaml_get does not find the first member with a key");
			if ((first->kind == YAML_SCALAR && first->val[0] != '\0') != (s != NULL) ||
			    (s != NULL && s != first->val))
				fail("yaml_str disagrees with yaml_get");
		}
	}
	if (yaml_get(n, "") != NULL && n->kind != YAML_MAP)
		fail("yaml_get on a non-map");
	return count;
}

static void
same_tree(const struct yaml_node *x, const struct yaml_node *y)
{
	if (x == NULL || y == NULL) {
		if (x != y)
			fail("a second parse differs (NULL)");
		return;
	}
	if (x->kind != y->kind || (x->key == NULL) != (y->key == NULL) ||
	    (x->key != NULL && strcmp(x->key, y->key) != 0) ||
	    (x->kind == YAML_SCALAR && strcmp(x->val, y->val) != 0))
		fail("a second parse differs");
	for (x = x->child, y = y->child; x != NULL || y != NULL; x = x->next, y = y->next) {
		if (x == NULL || y == NULL)
			fail("a second parse differs (members)");
		same_tree(x, y);
	}
}

static struct yaml_node *
parse(const uint8_t *data, size_t size, struct arena *a, char **textp)
{
	char *text = malloc(size + 1);
	struct yaml_node *root;

	if (text == NULL)
		fail("out of memory");
	memcpy(text, data, size);
	text[size] = '\0';
	root = yaml_parse(text, a);
	if (root != NULL) {
		if (root->kind != YAML_MAP && root->kind != YAML_SEQ)
			fail("root is not a map or seq");
		if (root->key != NULL)
			fail("root with a key");
		check_node(root, 0, size);
	}
	*textp = text;
	return root;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(FUZZ_ARENA_MAX), *b = arena_new(FUZZ_ARENA_MAX);
	struct arena *small = arena_new(512 + size / 2);
	char *t1, *t2, *t3;
	const struct yaml_node *r1, *r2;

	if (a == NULL || b == NULL || small == NULL)
		fail("out of memory");
	r1 = parse(data, size, a, &t1);
	r2 = parse(data, size, b, &t2);
	same_tree(r1, r2);
	(void)parse(data, size, small, &t3);
	free(t1);
	free(t2);
	free(t3);
	arena_free(a);
	arena_free(b);
	arena_free(small);
	return 0;
}
