/* The edge of the configuration protocol: the unix socket /var/run/wireguard/IFNAME.sock that
 * `wg` looks for, and non-blocking per-connection state for the daemon's epoll loop.
 *
 * Loop sketch: on EPOLLIN of the listening socket call uapi_conn_accept() until it returns NULL
 * with errno EAGAIN; on any event of a connection call uapi_conn_readable(), then wait for
 * EPOLLIN after UAPI_CONN_NEED_MORE, for EPOLLOUT after UAPI_CONN_DONE, and uapi_conn_close()
 * after UAPI_CONN_CLOSED. The epoll must be level-triggered: one call serves a bounded amount of
 * input and relies on being called again while more is waiting. */
#ifndef PORTHOLE_UAPI_SOCK_H
#define PORTHOLE_UAPI_SOCK_H

#include <stdbool.h>
#include "compat.h"
#include "config.h"
#include "uapi.h"

#define UAPI_SOCK_DIR "/var/run/wireguard"

enum {
	UAPI_MAX_CONNS = 64, /* at once, across every listening socket of the process */
	UAPI_READ_CHUNK = 4096,
};

/* Provided by the daemon. get fills a view (0 or -errno) that view_free then releases; set
 * applies a change (0 or -errno, sent back to the client). Both run on the loop's thread. */
struct uapi_ops {
	int (*get)(void *ctx, struct uapi_device_view *out);
	void (*view_free)(void *ctx, struct uapi_device_view *view);
	int (*set)(void *ctx, const struct interface_config *change);
	void *ctx;
};

enum uapi_conn_status {
	UAPI_CONN_NEED_MORE, /* waiting for request bytes: poll for EPOLLIN */
	UAPI_CONN_DONE,	     /* a request was served and its reply is still going out: EPOLLOUT */
	UAPI_CONN_CLOSED,    /* finished or failed: call uapi_conn_close() */
};

struct uapi_conn;

/* Creates UAPI_SOCK_DIR (0755) and IFNAME.sock (0600), listening and non-blocking. A socket
 * left by a dead daemon is replaced; one a live daemon answers on gives -EADDRINUSE. */
int uapi_sock_listen(const char *ifname, int *fd) WARN_UNUSED;
/* The same at any path, for tests and other directories. */
int uapi_sock_listen_path(const char *path, int *fd) WARN_UNUSED;
void uapi_sock_unlink(const char *ifname);

/* NULL with errno EAGAIN when nobody is waiting; EBUSY when UAPI_MAX_CONNS are open already,
 * in which case the client was turned away and the caller should accept again. */
struct uapi_conn *uapi_conn_accept(int listen_fd);
int uapi_conn_fd(const struct uapi_conn *c);
/* Reads, serves whole requests and writes replies as far as the socket allows. A malformed
 * request is answered "errno=-N\n\n" and the connection is closed. */
enum uapi_conn_status uapi_conn_readable(struct uapi_conn *c, const struct uapi_ops *ops);
/* For EPOLLOUT; the same work as uapi_conn_readable(). */
enum uapi_conn_status uapi_conn_writable(struct uapi_conn *c, const struct uapi_ops *ops);
void uapi_conn_close(struct uapi_conn *c);

#endif
