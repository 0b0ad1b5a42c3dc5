/*
 * search.h -- the file_search filter: which paths a platform found match the caller's
 * glob, decided the same way on every remote backend.
 *
 * Platforms find candidates their own way (OpenSandbox's execd walks a directory and
 * matches base names; envd lists directories to a depth). The filter matches the pattern
 * (util/glob.h: `*` stays within a segment, `**` crosses '/') against each candidate's
 * path relative to the search root: "/w/src/a.py" under root "/w" is "src/a.py". A path
 * outside the root is matched without its leading '/'. With SEARCH_BASENAMES the platform
 * has matched base names against the pattern itself, so a pattern without '/' is not
 * matched again (the platform's matcher may know more, such as {a,b}); a pattern with
 * '/' still is, since the platform saw only its last segment.
 *
 * Owns:    nothing; the match array comes from the caller's arena.
 * Borrows: root and pattern for the life of struct search; every match is the
 *          candidate's own pointer, so candidates must live as long as the result.
 * Errors:  search_begin: ERR_TOOBIG when the arena is full; search_check: ERR_INVAL.
 * Threads: a struct search belongs to one thread.
 */
#ifndef BACKENDS_COMMON_SEARCH_H
#define BACKENDS_COMMON_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/backend.h"
#include "util/arena.h"
#include "util/err.h"

#define SEARCH_PATTERN_MAX 1024
#define SEARCH_BASENAMES   1u /* the platform matched base names (see above) */

struct search {
	const char *root; /* without leading and trailing '/': "w/src", "" for "/" */
	size_t rootlen;
	const char *pattern;
	bool take_all; /* SEARCH_BASENAMES and no '/' in the pattern */
	size_t max;
	struct file_search *out;
};

/* Refuses an empty pattern or one over SEARCH_PATTERN_MAX bytes. */
int search_check(const char *pattern, struct err *e);

/* The last segment of the pattern (after its last '/'): what a platform that matches
 * base names is asked for. */
const char *search_leaf(const char *pattern);

/* How deep a directory listing must go for the pattern: one level per segment, or
 * max_depth when it holds `**`. */
int search_depth(const char *pattern, int max_depth);

/* Empties out and makes room for up to `max` matches among the (at most) `ncand`
 * candidates the caller will offer. */
int search_begin(struct search *s, const char *root, const char *pattern, unsigned flags,
    size_t ncand, size_t max, struct file_search *out, struct arena *a, struct err *e);

/* Offers one candidate path; a match is appended to out->matches. Returns false when
 * a match found no room: out->truncated is set and the caller stops offering. */
bool search_add(struct search *s, const char *path);

/* The part of path the pattern is matched against (see above). */
const char *search_rel(const struct search *s, const char *path);

#endif
