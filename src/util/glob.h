/*
 * glob.h -- shell-style matching of slash-separated paths, with `**`.
 *
 * `*` and `?` never match '/'; `**` matches any run of characters including '/' (and
 * "**" + "/" also matches no directory at all, so "**" + "/x" matches "x"); [abc], [a-z],
 * [!x] / [^x] classes never match '/'; a backslash quotes the next character. The whole
 * string must match. Work is bounded: a pathological pattern fails to match instead of
 * running for exponential time. No allocation, no shared state.
 */
#ifndef UTIL_GLOB_H
#define UTIL_GLOB_H

#include <stdbool.h>

bool glob_match(const char *pattern, const char *path);

#endif
