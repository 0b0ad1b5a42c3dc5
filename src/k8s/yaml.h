/*
 * yaml.h -- a reader for the subset of YAML that kubectl writes into a kubeconfig: block
 *           mappings and sequences by indentation (a sequence may sit at its parent key's
 *           indentation, "- key: v" opens a mapping), plain, 'single' ('' for ') and
 *           "double" (\n \t \r and \X for X) scalars, [] and {}, comments, "---".
 *
 * Not understood: flow collections with members, block scalars (| and >), anchors,
 * aliases, tags and multi-line scalars. They give a partial tree, never an error: "key: |"
 * is the scalar "|", and a line indented deeper than its block allows ends the blocks
 * around it, so what follows may be missing; a mapping line without "key:" is skipped.
 *
 * Owns:    nothing; every node and string comes from the caller's arena `a`.
 * Borrows: yaml_parse() cuts `text` in place (NULs at line ends, comments and after keys),
 *          and plain scalars point into it: text must outlive the tree.
 * Errors:  yaml_parse() returns NULL for a document without content lines or when the
 *          arena is full (a full arena midway leaves a partial tree). Nesting is bounded
 *          so recursion is: past YAML_DEPTH_MAX nested blocks the rest of the document is
 *          left out.
 * Threads: none of its own; a tree belongs to the thread that owns its arena.
 */
#ifndef K8S_YAML_H
#define K8S_YAML_H

#include "util/arena.h"

#define YAML_DEPTH_MAX 32

enum yaml_kind { YAML_SCALAR, YAML_MAP, YAML_SEQ };

struct yaml_node {
	enum yaml_kind kind;
	const char *key;                       /* member name inside a map, else NULL */
	const char *val;                       /* scalar text (never NULL for a scalar) */
	struct yaml_node *child, *last, *next; /* members of a map or seq, in order */
};

/* Parses the NUL-terminated text (modified in place); the root is a map or a seq. */
struct yaml_node *yaml_parse(char *text, struct arena *a);

/* The first member of map named key, or NULL (also when map is NULL or not a map). */
const struct yaml_node *yaml_get(const struct yaml_node *map, const char *key);
/* The text of map's scalar member key, or NULL when it is absent, not a scalar or empty. */
const char *yaml_str(const struct yaml_node *map, const char *key);

#endif
