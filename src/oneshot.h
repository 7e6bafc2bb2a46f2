/* A server of one-request connections on the daemon's loop, shared by the control socket and
 * the metrics endpoint: accept (at most max_conns at once), read until the request is complete
 * (or request_max bytes, or end of stream), let serve() write the reply, send it, close. A
 * connection that has not finished within deadline_ns of its accept is dropped, so a slow or
 * silent client holds a slot only that long. Everything runs on the loop thread. */
#ifndef PORTHOLE_ONESHOT_H
#define PORTHOLE_ONESHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "compat.h"
#include "loop.h"

struct oneshot_config {
	const char *what; /* for log lines: "control", "metrics" */
	size_t request_max;
	unsigned int max_conns;
	uint64_t deadline_ns;
	/* true once in[0, len) holds a whole request. */
	bool (*complete)(const char *in, size_t len);
	/* Writes the reply for in[0, len) to out; called once, also for a request that was cut
	 * short by request_max or by the client's end of stream (complete() false then). */
	void (*serve)(void *ctx, const char *in, size_t len, FILE *out);
	void *ctx;
};

struct oneshot;

/* Takes listen_fd (non-blocking, listening), which oneshot_close() closes: 0 or -errno, with
 * listen_fd closed on failure too. */
int oneshot_open(struct oneshot **out, struct loop *loop, int listen_fd,
		 const struct oneshot_config *cfg) WARN_UNUSED;
/* Drops every connection and closes the listener. NULL is fine. */
void oneshot_close(struct oneshot *s);

#endif
