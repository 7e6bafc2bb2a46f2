/* The daemon's system-call allow-list (libseccomp), installed once everything privileged is set
 * up: what the running tunnel, gateway, reload, status sockets and the DNS helper thread need,
 * nothing else. Anything outside it kills the whole process (SIGSYS), so a bug exploited in the
 * packet path cannot exec, fork, ptrace, mount or open files for writing. Opt-in with
 * PORTHOLE_SECCOMP=1 in the environment (forward-only files have no [Interface] to carry a key;
 * systemd units set it with Environment=). */
#ifndef PORTHOLE_SANDBOX_H
#define PORTHOLE_SANDBOX_H

#include <stdbool.h>
#include "compat.h"

/* PORTHOLE_SECCOMP is "1", "on" or "yes". */
bool sandbox_wanted(const char *env) WARN_UNUSED;
/* Installs the filter on the calling process (every thread, and threads created later; sets
 * no_new_privs). 0 or -errno; on failure nothing is installed. */
int sandbox_install(void) WARN_UNUSED;
/* The same, when PORTHOLE_SECCOMP asks for it; logs the outcome as name's. */
int sandbox_install_if_wanted(const char *name) WARN_UNUSED;

#endif
