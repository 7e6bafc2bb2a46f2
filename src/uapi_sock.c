/* The configuration socket: where it lives, who may own it, and one connection's life:
 * read a request, serve it, write the reply, repeat until the client hangs up. */
#include <errno.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "log.h"
#include "uapi_sock.h"

struct uapi_conn {
	int fd;
	bool close_after_reply;
	struct uapi_parser parser;
	char in[UAPI_READ_CHUNK];
	size_t in_pos, in_len;
	/* The reply: either errno_reply or a get's text, which holds the private key. */
	char *out;
	size_t out_pos, out_len, out_cap;
	char errno_reply[UAPI_REPLY_ERRNO_MAX];
};

/* Connections of the whole process: the socket is root's alone, so this only guards against
 * a runaway local client, not against strangers. */
static atomic_uint live_conns;

static bool valid_ifname(const char *ifname)
{
	size_t len = strlen(ifname);

	return len && len < IFNAMSIZ && !strchr(ifname, '/') && strcmp(ifname, ".") &&
	       strcmp(ifname, "..");
}

static int sock_path(char *path, size_t len, const char *ifname)
{
	if (!valid_ifname(ifname))
		return -EINVAL;
	snprintf(path, len, "%s/%s.sock", UAPI_SOCK_DIR, ifname);
	return 0;
}

/* A daemon is alive there when it accepts a connection. */
static bool answers(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = !connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	return live;
}

static int bind_private(int fd, const struct sockaddr_un *sun)
{
	/* umask rather than chmod after bind: the socket never exists with a looser mode. */
	mode_t old = umask(0177);
	int ret = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));

	umask(old);
	return ret ? -errno : 0;
}

/* Replaces a stale socket; refuses a live one and anything that is not a socket. */
static int bind_replacing(int fd, const struct sockaddr_un *sun)
{
	struct stat st;
	int ret = bind_private(fd, sun);

	if (ret != -EADDRINUSE)
		return ret;
	if (answers(sun))
		return -EADDRINUSE;
	if (lstat(sun->sun_path, &st))
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlink(sun->sun_path) && errno != ENOENT)
		return -errno;
	return bind_private(fd, sun);
}

int uapi_sock_listen_path(const char *path, int *out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = bind_replacing(fd, &sun);
	if (!ret && listen(fd, UAPI_MAX_CONNS))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int uapi_sock_listen(const char *ifname, int *fd)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int ret = sock_path(path, sizeof(path), ifname);

	if (ret)
		return ret;
	if (mkdir(UAPI_SOCK_DIR, 0755) && errno != EEXIST)
		return -errno;
	return uapi_sock_listen_path(path, fd);
}

void uapi_sock_unlink(const char *ifname)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (!sock_path(path, sizeof(path), ifname))
		unlink(path);
}

struct uapi_conn *uapi_conn_accept(int listen_fd)
{
	struct uapi_conn *c;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (atomic_fetch_add(&live_conns, 1) >= UAPI_MAX_CONNS) {
		log_limited(LOG_LEVEL_WARN, "uapi: %d connections open, refusing another",
			    UAPI_MAX_CONNS);
		goto busy;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto busy;
	c->fd = fd;
	uapi_parser_init(&c->parser);
	return c;
busy:
	atomic_fetch_sub(&live_conns, 1);
	close(fd);
	errno = EBUSY;
	return NULL;
}

int uapi_conn_fd(const struct uapi_conn *c)
{
	return c->fd;
}

static void drop_reply(struct uapi_conn *c)
{
	if (c->out != c->errno_reply && c->out) {
		crypto_wipe(c->out, c->out_cap);
		free(c->out);
	}
	c->out = NULL;
	c->out_pos = c->out_len = c->out_cap = 0;
}

void uapi_conn_close(struct uapi_conn *c)
{
	if (!c)
		return;
	drop_reply(c);
	uapi_parser_free(&c->parser);
	close(c->fd);
	crypto_wipe(c, sizeof(*c));
	free(c);
	atomic_fetch_sub(&live_conns, 1);
}

static void reply_errno(struct uapi_conn *c, int err)
{
	c->out = c->errno_reply;
	c->out_len = uapi_format_errno(c->errno_reply, err);
	c->out_cap = sizeof(c->errno_reply);
}

static void serve_get(struct uapi_conn *c, const struct uapi_ops *ops)
{
	struct uapi_device_view view = {0};
	int ret = ops->get(ops->ctx, &view);

	if (!ret) {
		ret = uapi_format_get(&c->out, &c->out_len, &view);
		c->out_cap = c->out_len;
		ops->view_free(ops->ctx, &view);
	}
	crypto_wipe(&view, sizeof(view));
	if (ret)
		reply_errno(c, ret);
}

static void serve(struct uapi_conn *c, const struct uapi_ops *ops, enum uapi_status st)
{
	if (st == UAPI_BAD) {
		log_limited(LOG_LEVEL_WARN, "uapi: malformed request (%s)",
			    strerror(c->parser.err));
		reply_errno(c, c->parser.err);
		c->close_after_reply = true;
	} else if (c->parser.op == UAPI_OP_GET) {
		serve_get(c, ops);
	} else {
		reply_errno(c, ops->set(ops->ctx, &c->parser.change));
	}
	uapi_parser_reset(&c->parser);
}

/* 0 when everything went out, -EAGAIN when the socket is full, other -errno when gone. */
static int flush(struct uapi_conn *c)
{
	ssize_t n;

	while (c->out_pos < c->out_len) {
		n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c->out_pos += (size_t)n;
	}
	drop_reply(c);
	return 0;
}

/* -EAGAIN when nothing is there yet, -EPIPE at end of stream. */
static int fill(struct uapi_conn *c)
{
	ssize_t n;

	do
		n = recv(c->fd, c->in, sizeof(c->in), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	c->in_pos = 0;
	c->in_len = (size_t)n;
	return 0;
}

/* Reads per call, so that one busy client cannot hold the loop: the socket stays readable and
 * a level-triggered epoll comes back to it. */
enum { STEP_READS = 256 };

static enum uapi_conn_status step(struct uapi_conn *c, const struct uapi_ops *ops)
{
	enum uapi_status st;
	unsigned int reads = 0;
	size_t used;
	int ret;

	for (;;) {
		ret = flush(c);
		if (ret == -EAGAIN)
			return UAPI_CONN_DONE;
		if (ret || c->close_after_reply) {
			shutdown(c->fd, SHUT_WR);
			return UAPI_CONN_CLOSED;
		}
		if (c->in_pos == c->in_len) {
			if (++reads > STEP_READS)
				return UAPI_CONN_NEED_MORE;
			ret = fill(c);
			if (ret == -EAGAIN)
				return UAPI_CONN_NEED_MORE;
			if (ret)
				return UAPI_CONN_CLOSED;
		}
		st = uapi_feed(&c->parser, c->in + c->in_pos, c->in_len - c->in_pos, &used);
		c->in_pos += used;
		if (st != UAPI_NEED_MORE)
			serve(c, ops, st);
	}
}

enum uapi_conn_status uapi_conn_readable(struct uapi_conn *c, const struct uapi_ops *ops)
{
	return step(c, ops);
}

enum uapi_conn_status uapi_conn_writable(struct uapi_conn *c, const struct uapi_ops *ops)
{
	return step(c, ops);
}
