/*
 * local.h -- the `local` backend: sandboxes on this machine, confined with Linux namespaces,
 * a read-only allowlisted file system, no capabilities, seccomp, Landlock and limits.
 *
 * src/backends/local/internal.h has the design (processes, files, the security model);
 * this header is all the rest of the program sees.
 *
 * Owns:    the backend state; sandboxes are NOT killed by free() (they persist by design,
 *          except the session's ephemeral default sandbox, which dies with the process).
 * Errors:  as backend.h; a sandbox that cannot be confined as configured is not started,
 *          and the error says why and what to do.
 * Threads: every op is thread-safe.
 */
#ifndef BACKENDS_LOCAL_H
#define BACKENDS_LOCAL_H

#include "backends/backend.h"
#include "config.h"
#include "util/buf.h"
#include "util/err.h"

/* argv[1] of a sandbox's supervisor process (this binary, re-executed). */
#define LOCAL_SUPERVISOR_ARG "__local-supervisor"

/* Creates the local backend from cfg (local_root, local_isolation, mounts); makes the
 * state root. Bad --mount values and an unusable state root are ERR_INVAL sentences. */
int local_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e);

/* The supervisor's main; never returns while its sandbox lives. */
int local_supervisor_main(int argc, char **argv);

/* Appends lines describing how local sandboxes are confined on this machine (namespaces,
 * seccomp, Landlock, cgroups or rlimits, identity) for `doctor`. */
void local_describe(const struct config *cfg, struct buf *out);

#endif
