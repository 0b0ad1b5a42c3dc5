/*
 * registry.h -- the backend table, after curl's available_backends[] (lib/vtls/vtls.c):
 * one row per backend this program knows, saying how the environment selects it, which
 * environment variables fill its configuration, what must be done to the configuration
 * before it is opened, how to open it, which request headers carry its credentials, and
 * what `doctor` prints about it. main.c asks this table and names no backend in its
 * code; a new backend is a row in registry.c (and its flags and --help lines in main.c's
 * option table).
 *
 * A backend left out of the build (its header absent: __has_include) keeps its row, so
 * its name and environment still select it, and opening it says it is not part of this
 * build.
 *
 * Owns:    the table (static, read-only). Strings a prepare step allocates are the
 *          caller's, in owned[]: free() each one once the backend is freed.
 * Borrows: cfg during each call; the backend opened keeps nothing of it (backend.h).
 * Errors:  backend_open() returns ERR_UNSUPPORTED ("the NAME backend is not part of this
 *          build") or what the backend's constructor returns; backend_prepare() what its
 *          step returns (e2b: a failed --k8s lookup); backend_register_secrets() the
 *          code of http_log_secret_header() with a sentence naming the header. Each with
 *          one sentence in e.
 * Threads: backend_settle(), backend_prepare() and backend_register_secrets() change
 *          process state (cfg, the redaction table) and run before any other thread
 *          starts, as main() calls them; the lookups may be called from any thread.
 */
#ifndef BACKENDS_REGISTRY_H
#define BACKENDS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/backend.h"
#include "config.h"
#include "util/buf.h"
#include "util/err.h"

/* Heap strings one prepare step may put into the configuration. */
#define BACKEND_OWNED_MAX 2
/* Room for backend_names(). */
#define BACKEND_NAMES_MAX 128

struct backend_entry {
	const char *name; /* "local", "opensandbox", "e2b": --backend's values */
	/* True when the environment selects this backend (OPEN_SANDBOX_* ...); NULL for
	 * the default row, which is chosen when no other row's environment is set. */
	bool (*detect)(void);
	/* Fills the fields the flags left unset from this backend's environment variables
	 * (flags over environment); NULL when it has none. */
	void (*settle)(struct config *cfg);
	/* Completes the configuration before the backend is opened (e2b: --k8s resolves the
	 * sandbox id and token); NULL when there is nothing to do. */
	int (*prepare)(struct config *cfg, char *owned[BACKEND_OWNED_MAX], struct err *e);
	/* The constructor; NULL when the backend is not part of this build. */
	int (*open)(const struct config *cfg, struct backend_handle *out, struct err *e);
	/* Request headers that carry this backend's credentials, NULL-terminated, for the
	 * debug log's redaction (net/http_log.h); NULL when it sends none. */
	const char *const *secret_headers;
	/* Appends lines about this machine's setup to `doctor`'s report; may be NULL. */
	void (*describe)(const struct config *cfg, struct buf *out);
	/* Talks to a platform with an API key: `doctor` says whether the key is set and asks
	 * the platform to list sandboxes; otherwise it runs a command in a new sandbox. */
	bool remote;
};

/* The row named `name` (exact, as --backend spells it), or NULL. */
const struct backend_entry *backend_find(const char *name);

/* The first row whose environment is set, in table order (opensandbox before e2b), else
 * the default row (local). */
const struct backend_entry *backend_detect(void);

/* The names for a sentence, "local, opensandbox or e2b", in out; when n bytes are too
 * few, as many whole names as fit. */
const char *backend_names(char *out, size_t n);

/* Runs be's settle step, if it has one. */
void backend_settle(const struct backend_entry *be, struct config *cfg);

/* Runs be's prepare step, if it has one; owned[] (BACKEND_OWNED_MAX slots, NULL on
 * entry) receives the heap strings it put into cfg. Returns 0 or an ERR_* code. */
int backend_prepare(const struct backend_entry *be, struct config *cfg,
    char *owned[BACKEND_OWNED_MAX], struct err *e);

/* Opens be with cfg into *out. Returns 0 or an ERR_* code. */
int backend_open(const struct backend_entry *be, const struct config *cfg,
    struct backend_handle *out, struct err *e);

/* Appends be's `doctor` lines to out (nothing when it has no describe step). */
void backend_describe(const struct backend_entry *be, const struct config *cfg, struct buf *out);

/* Registers the secret headers of every row with http_log_secret_header(), whichever
 * backend is chosen: redacting a header that is never sent costs nothing. Call once,
 * before threads start. Returns 0 or an ERR_* code. */
int backend_register_secrets(struct err *e);

#endif
