/* Privilege separation for `porthole up` run by root outside systemd: once the TUN device, the
 * sockets and the netlink setup exist, the daemon becomes an unprivileged user that keeps only
 * CAP_NET_ADMIN (interface, address and route changes on reload, deleting its link on exit) and
 * CAP_NET_BIND_SERVICE (forwards added on reload that listen below port 1024). Under systemd
 * the unit does this instead (User=, AmbientCapabilities=). */
#ifndef PORTHOLE_PRIVDROP_H
#define PORTHOLE_PRIVDROP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "compat.h"

/* Who to become: $PORTHOLE_USER, else this user when it exists, else "nobody". */
#define PRIVDROP_USER	  "porthole"
#define PRIVDROP_FALLBACK "nobody"

/* The capabilities kept, as a capability bit mask (CapEff in /proc/PID/status). */
uint64_t privdrop_kept_caps(void);

/* Whether to drop, from the effective uid and the environment (getenv-like lookup, so tests
 * can pass their own): only as root, not under systemd ($NOTIFY_SOCKET or $INVOCATION_ID),
 * and not when $PORTHOLE_NO_PRIVDROP is set to anything but "0" or "". */
bool privdrop_wanted(uid_t euid, char *(*env)(const char *name)) WARN_UNUSED;

/* Becomes user (NULL: PRIVDROP_USER, else PRIVDROP_FALLBACK) for good, keeping only
 * privdrop_kept_caps(), with no way back (no_new_privs, the bounding set emptied of the rest).
 * Must run before any thread is started. 0, or -errno with the reason logged; a failure after
 * the first step leaves a process that must exit. */
int privdrop_to(const char *user) WARN_UNUSED;

/* What stays privileged, as in relayd's privilege separation: a janitor process, forked before
 * the drop, that reads the configuration file for the daemon when it reloads (the file may be
 * root's alone, as `porthole init` writes it; the janitor reads that one path and nothing else),
 * and that, once the daemon finishes (or dies), removes its sockets (`wg`'s and the control
 * socket), which the unprivileged daemon cannot unlink from their root-owned directories. */
enum { PRIVDROP_CONFIG_MAX = 4 << 20 }; /* bytes of configuration the janitor passes on */

struct privdrop {
	pid_t janitor; /* 0: none */
	int fd;	       /* the daemon's end of the socket pair; EOF tells the janitor to clean up */
};

/* The daemon's hook, called once everything privileged is set up: drops when
 * privdrop_wanted() says so (to $PORTHOLE_USER when set), leaving a janitor for the sockets of
 * the daemon called name, then warns when the configuration file at path is unreadable to the
 * new user, as reload will need it. */
int privdrop_daemon(struct privdrop *pd, const char *path, const char *name) WARN_UNUSED;
/* The configuration file's bytes as the janitor read them: 0 with *text (NUL-terminated,
 * malloc'ed, to be wiped and freed) and *len, -ENOSYS when there is no janitor (read it
 * yourself), or a negative errno from reading it. */
int privdrop_read_config(struct privdrop *pd, char **text, size_t *len) WARN_UNUSED;
/* At the very end of the daemon, after its sockets are closed: the janitor cleans up and exits. */
void privdrop_finish(struct privdrop *pd);

#endif
