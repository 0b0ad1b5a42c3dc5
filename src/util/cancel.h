/*
 * cancel.h -- a cancellation token a poll() can wait on.
 *
 * Owns:    a pipe; cancel_fire() makes cancel_fd() readable forever after, so every
 *          blocking wait that polls it (net/sock, local backend) ends at once.
 * Threads: cancel_fire() and cancel_fired() may be called from any thread.
 * A NULL struct cancel * is accepted everywhere and never fires.
 */
#ifndef UTIL_CANCEL_H
#define UTIL_CANCEL_H

struct cancel;

struct cancel *cancel_new(void);
void cancel_free(struct cancel *c);
void cancel_fire(struct cancel *c);
int cancel_fired(const struct cancel *c);
/* The read end to add to a pollfd set (POLLIN), or -1 for NULL. */
int cancel_fd(const struct cancel *c);

#endif
