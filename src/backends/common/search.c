/* search.c -- the file_search filter (contract in search.h). */
#include "backends/common/search.h"

#include <string.h>

#include "util/glob.h"

int
search_check(const char *pattern, struct err *e)
{
	size_t n = pattern != NULL ? strlen(pattern) : 0;

	if (n == 0 || n > SEARCH_PATTERN_MAX)
		return err_set(e, ERR_INVAL, "the pattern must be 1 to %d bytes long",
		    SEARCH_PATTERN_MAX);
	return 0;
}

const char *
search_leaf(const char *pattern)
{
	const char *last = strrchr(pattern, '/');

	return last != NULL ? last + 1 : pattern;
}

int
search_depth(const char *pattern, int max_depth)
{
	int depth = 1;

	if (strstr(pattern, "**") != NULL)
		return max_depth;
	for (const char *q = pattern; *q != '\0'; q++)
		depth += *q == '/';
	return depth < max_depth ? depth : max_depth;
}

int
search_begin(struct search *s, const char *root, const char *pattern, unsigned flags, size_t ncand,
    size_t max, struct file_search *out, struct arena *a, struct err *e)
{
	size_t n;

	memset(out, 0, sizeof(*out));
	while (*root == '/')
		root++;
	for (n = strlen(root); n > 0 && root[n - 1] == '/'; n--)
		;
	s->root = root;
	s->rootlen = n;
	s->pattern = pattern;
	s->take_all = (flags & SEARCH_BASENAMES) != 0 && strchr(pattern, '/') == NULL;
	s->max = ncand < max ? ncand : max; /* never more room than candidates */
	s->out = out;
	out->matches = arena_alloc(a, (s->max + 1) * sizeof(*out->matches));
	if (out->matches == NULL)
		return err_set(e, ERR_TOOBIG, "the matches of %s do not fit in memory", pattern);
	return 0;
}

const char *
search_rel(const struct search *s, const char *path)
{
	const char *q = path[0] == '/' ? path + 1 : path;

	if (s->rootlen > 0 && strncmp(q, s->root, s->rootlen) == 0 && q[s->rootlen] == '/')
		return q + s->rootlen + 1;
	return q;
}

bool
search_add(struct search *s, const char *path)
{
	if (path == NULL)
		return true;
	if (!s->take_all && !glob_match(s->pattern, search_rel(s, path)))
		return true;
	if (s->out->n == s->max) {
		s->out->truncated = true;
		return false;
	}
	s->out->matches[s->out->n++] = path;
	return true;
}
