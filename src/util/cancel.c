/* cancel.c -- a self-pipe that stays readable once fired. */
#include "util/cancel.h"
#include "util/mem.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct cancel {
	int fd[2];
	atomic_int fired;
};

struct cancel *
cancel_new(void)
{
	struct cancel *c = xcalloc(1, sizeof(*c));

	if (pipe2(c->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		/* Without a pipe the flag still works; waits just notice it later. */
		c->fd[0] = c->fd[1] = -1;
	}
	return c;
}

void
cancel_free(struct cancel *c)
{
	if (c == NULL)
		return;
	if (c->fd[0] >= 0)
		close(c->fd[0]);
	if (c->fd[1] >= 0)
		close(c->fd[1]);
	free(c);
}

void
cancel_fire(struct cancel *c)
{
	ssize_t r;

	if (c == NULL || atomic_exchange(&c->fired, 1))
		return;
	if (c->fd[1] >= 0) {
		r = write(c->fd[1], "x", 1);
		(void)r;
	}
}

int
cancel_fired(const struct cancel *c)
{
	return c != NULL && atomic_load(&((struct cancel *)c)->fired);
}

int
cancel_fd(const struct cancel *c)
{
	return c != NULL ? c->fd[0] : -1;
}
