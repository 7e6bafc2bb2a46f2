/* Named network namespaces, made the way `ip netns add` makes them, so that `ip netns` lists
 * and enters ours: a child unshares a new network namespace and bind-mounts it onto
 * /run/netns/NAME, which keeps it alive without a process. porthole runs no ip(8).
 *
 * Work inside a namespace goes through netns_call(), which switches the calling thread in and
 * back out; sockets opened there stay in that namespace. Not for multithreaded callers that
 * expect the other threads to follow. */
#ifndef PORTHOLE_NETNS_H
#define PORTHOLE_NETNS_H

#include "compat.h"

#define NETNS_RUN_DIR "/run/netns"

enum { NETNS_NAME_MAX = 64 };

struct netns {
	char name[NETNS_NAME_MAX];
	int fd; /* the namespace, O_CLOEXEC; -1 when there is none */
};

/* Creates NETNS_RUN_DIR/name with its loopback up; -EEXIST when the name is taken. */
int netns_add(struct netns *ns, const char *name) WARN_UNUSED;
/* Unmounts and removes it; the namespace itself goes when its last process and socket do. */
void netns_del(struct netns *ns);
/* Runs fn(arg) inside ns and returns its result, or -errno when switching fails. */
int netns_call(const struct netns *ns, int (*fn)(void *arg), void *arg);
/* Moves the calling thread into ns for good, for a child about to exec. */
int netns_enter(const struct netns *ns) WARN_UNUSED;
/* socket(2) inside ns: the fd, or -errno. */
int netns_socket(const struct netns *ns, int domain, int type, int protocol);

#endif
