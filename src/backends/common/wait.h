/*
 * wait.h -- cancellable sleeps and "ask again until it is ready" loops for the
 * backends.
 *
 * Owns:    nothing; no allocation, no shared state.
 * Borrows: `what` and the call for the duration of one call only.
 * Errors:  0 when the sleep ran its course (or the probe said done);
 *            ERR_CANCELLED  the cancel token fired: "<what> was cancelled"
 *            ERR_TIMEOUT    the deadline passed: "<what> did not finish before the deadline"
 *          or whatever a probe returned, with its own sentence. `what` names what was
 *          waited for ("waiting for sandbox sbx-1 to become Running"). A NULL e is
 *          accepted (err_set ignores it), for loops that only need the code.
 * Waits:   one poll() on the cancel descriptor, never past the deadline; the token and
 *          the deadline are checked before and after it, so a sleep of 0 ms still
 *          reports a fired token or a passed deadline. Signals do not shorten a sleep.
 * Threads: any thread; the cancel token may be fired from another one.
 */
#ifndef BACKENDS_COMMON_WAIT_H
#define BACKENDS_COMMON_WAIT_H

#include <stdint.h>

#include "backends/backend.h"
#include "util/cancel.h"
#include "util/err.h"

/* Sleeps ms (< 0 counts as 0), ending early at `cancel` or at the deadline `dl` (absolute
 * monotonic ms, DEADLINE_NONE for none). For threads that have a token but no call. */
int wait_sleep_until(struct cancel *cancel, int64_t dl, int ms, const char *what, struct err *e);

/* wait_sleep_until() with the call's token and deadline. */
int wait_sleep(const struct call *c, int ms, const char *what, struct err *e);

/* A probe asks once: 0 when the wait is over, WAIT_MORE to be asked again after a pause,
 * or an ERR_* code (e set) that ends the wait. It may point *what at a sentence that
 * says more ("... (it is Pending)"); that one names the wait in a timeout or cancel. */
#define WAIT_MORE (-1)
typedef int (*wait_probe_fn)(void *arg, const char **what, struct err *e);

struct wait_poll {
	int first_ms;     /* first pause; <= 0: WAIT_FIRST_MS */
	int max_ms;       /* pauses double up to this; <= 0: WAIT_MAX_MS */
	int64_t deadline; /* a bound of the wait's own under the call's (0 or
				 * DEADLINE_NONE: the call's alone) */
	const char *what; /* names the wait, as for wait_sleep */
};

#define WAIT_FIRST_MS 100
#define WAIT_MAX_MS   500

/* Probes, then pauses (first_ms, doubling up to max_ms) and probes again until the probe
 * says done or fails, the token fires or a deadline passes. The probe runs at least once,
 * even when the deadline has already passed (its own request then reports it). */
int wait_poll(const struct call *c, const struct wait_poll *p, wait_probe_fn fn, void *arg,
    struct err *e);

#endif
