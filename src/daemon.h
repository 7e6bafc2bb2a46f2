/* The `porthole up` daemon: one configuration file, run as a tunnel (when it has an
 * [Interface]) and a gateway (when it has [Forward]s). The tunnel's loop is the main thread's;
 * with both and a second CPU, the gateway runs its own loop on a thread of its own (see
 * daemon_gateway_threaded()). This is where the process-wide concerns meet: loading the file,
 * bringing the interface up, starting the forwards, and tearing everything down in reverse
 * order. */
#ifndef PORTHOLE_DAEMON_H
#define PORTHOLE_DAEMON_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include "compat.h"
#include "config.h"
#include "gateway.h"
#include "loop.h"
#include "netconf.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "state.h"
#include "tunnel.h"

struct control;
struct metrics;

struct daemon {
	char name[IFNAMSIZ]; /* from the file name: the interface's, and the daemon's */
	const char *path;
	struct porthole_config cfg; /* as running */
	struct tunnel *tunnel;      /* NULL for a forward-only file */
	struct loop own_loop;       /* the loop when there is no tunnel */
	struct loop *loop;          /* the main thread's */
	struct gateway *gw;         /* NULL without [Forward]s; touched only on gw_loop's thread */
	struct loop *gw_loop;       /* loop, or gw_own_loop when the gateway has a thread */
	struct loop gw_own_loop;
	pthread_t gw_thread;
	bool gw_own_loop_ready, gw_thread_running;
	struct netconf_state netconf;
	struct sdnotify sd; /* the systemd watchdog, when asked for */
	struct privdrop privdrop; /* root's janitor after the privilege drop */
	struct control *control;  /* /run/porthole/NAME.sock, for `porthole show` and reload */
	struct metrics *metrics;  /* MetricsListen, NULL when off */
	struct state state;	  /* the saved peer endpoints (a tunnel's) */
	struct loop_timer state_timer; /* compares the peers with the state file */
	bool state_timer_added;
	bool own_loop_ready;
};

/* The daemon's name from a file name: /etc/porthole/home.conf -> home; -EINVAL (with a message
 * on stderr) when that is no valid interface name. */
int daemon_name_of(const char *path, char name[IFNAMSIZ]) WARN_UNUSED;
/* Parses and checks a file, printing its FILE:LINE error; resolves Endpoint host names when
 * resolve is set. 0 or -EINVAL. */
int daemon_load(const char *path, struct porthole_config *cfg, bool resolve) WARN_UNUSED;

/* Loads path and brings everything up: 0, or -errno with the reason logged and everything
 * already created torn down again. */
int daemon_start(struct daemon *d, const char *path) WARN_UNUSED;
/* Runs until SIGTERM/SIGINT (or the interface is deleted); returns the exit status. */
int daemon_run(struct daemon *d);
void daemon_stop(struct daemon *d);
/* Whether a daemon with a tunnel and forwards gives the gateway its own thread:
 * PORTHOLE_GATEWAY_THREAD=1 or 0, else with two CPUs or more. */
bool daemon_gateway_threaded(void);

/* Re-reads d->path and applies the difference in place: peers, addresses and forwards the change
 * does not touch keep their sessions and connections. A bad file, or a change that needs a
 * restart, leaves the running configuration as it was: -errno with the reason in err. Loop
 * thread only. */
int daemon_reload(struct daemon *d, char *err, size_t errlen) WARN_UNUSED;

#endif
