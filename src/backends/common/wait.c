/* wait.c -- cancellable sleeps and polling with backoff (contract in wait.h). */
#include "backends/common/wait.h"

#include <poll.h>

#include "util/time.h"

static int
wait_stopped(struct cancel *cancel, int64_t dl, const char *what, struct err *e)
{
	if (what == NULL)
		what = "the wait";
	if (cancel_fired(cancel))
		return err_set(e, ERR_CANCELLED, "%s was cancelled", what);
	if (deadline_passed(dl))
		return err_set(e, ERR_TIMEOUT, "%s did not finish before the deadline", what);
	return 0;
}

int
wait_sleep_until(struct cancel *cancel, int64_t dl, int ms, const char *what, struct err *e)
{
	struct pollfd p = { .fd = cancel_fd(cancel), .events = POLLIN };
	int64_t end = time_mono_ms() + (ms > 0 ? ms : 0);
	int rc;

	if (dl <= 0)
		dl = DEADLINE_NONE;
	for (;;) {
		int64_t left = end - time_mono_ms();
		int dleft = deadline_left_ms(dl);

		if ((rc = wait_stopped(cancel, dl, what, e)) != 0)
			return rc;
		if (left <= 0)
			return 0;
		if (dleft >= 0 && dleft < left)
			left = dleft;
		/* EINTR or an early wake-up just loops: the clock decides when we are done. */
		(void)poll(&p, p.fd >= 0 ? 1 : 0, (int)left);
	}
}

int
wait_sleep(const struct call *c, int ms, const char *what, struct err *e)
{
	return wait_sleep_until(c != NULL ? c->cancel : NULL, call_deadline(c), ms, what, e);
}

int
wait_poll(const struct call *c, const struct wait_poll *p, wait_probe_fn fn, void *arg,
    struct err *e)
{
	int64_t dl = call_deadline(c);
	int max = p->max_ms > 0 ? p->max_ms : WAIT_MAX_MS;
	int pause = p->first_ms > 0 ? p->first_ms : WAIT_FIRST_MS;
	int rc;

	if (pause > max)
		pause = max;

	if (p->deadline > 0)
		dl = deadline_min(dl, p->deadline);
	for (;;) {
		const char *what = p->what;

		if ((rc = fn(arg, &what, e)) != WAIT_MORE)
			return rc;
		if ((rc = wait_sleep_until(c != NULL ? c->cancel : NULL, dl, pause, what, e)) != 0)
			return rc;
		pause = pause < max / 2 ? pause * 2 : max;
	}
}
