/* The systemd readiness protocol without libsystemd: one datagram per state change to the
 * socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), and the
 * watchdog keep-alive from a loop timer at half of $WATCHDOG_USEC. Outside systemd, with no
 * $NOTIFY_SOCKET, every call is a no-op. */
#ifndef PORTHOLE_SDNOTIFY_H
#define PORTHOLE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include "compat.h"
#include "loop.h"

struct sdnotify {
	struct loop *loop; /* NULL while the watchdog is not running */
	struct loop *also; /* another thread's loop that must answer too, or NULL */
	struct loop_timer watchdog;
	uint64_t interval_ns;
};

/* Fills sun from a $NOTIFY_SOCKET value: 0, or -EINVAL for an empty, relative or too long
 * name, -EAFNOSUPPORT for a vsock address ("vsock:...", which porthole does not speak). */
int sdnotify_address(const char *value, struct sockaddr_un *sun, socklen_t *len) WARN_UNUSED;
/* The keep-alive period for $WATCHDOG_USEC and $WATCHDOG_PID (either may be NULL): half the
 * timeout, so one late wakeup never trips it; 0 when there is no watchdog for process self. */
uint64_t sdnotify_watchdog_period(const char *usec, const char *pid, pid_t self);

/* Sends state ("READY=1", "STOPPING=1", ...): 0 (also without $NOTIFY_SOCKET) or -errno. */
int sdnotify_send(const char *state);
/* When systemd asked for a watchdog, sends WATCHDOG=1 now and then every period on loop. With
 * also (a loop another thread runs, or NULL), each keep-alive first waits for that loop to run
 * an empty loop_call(): a wedged thread then stops the keep-alives and systemd restarts us. */
int sdnotify_watchdog_start(struct sdnotify *sd, struct loop *loop, struct loop *also) WARN_UNUSED;
void sdnotify_watchdog_stop(struct sdnotify *sd);

#endif
