/* One-request connections: accept, read, serve, write, close, each step non-blocking on the
 * loop, with a bound on connections, request bytes and time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>
#include "log.h"
#include "oneshot.h"

enum { ONESHOT_ACCEPT_BATCH = 16 };

struct oneshot_conn {
	LIST_ENTRY(oneshot_conn) entry;
	struct oneshot *srv;
	struct loop_fd lfd;
	struct loop_timer deadline;
	size_t in_len;
	char *out; /* the reply, once served */
	size_t out_len, out_pos;
	char in[]; /* request_max bytes */
};

struct oneshot {
	struct oneshot_config cfg;
	struct loop *loop;
	struct loop_fd lfd;
	unsigned int nconns;
	LIST_HEAD(, oneshot_conn) conns;
};

static void conn_free(struct oneshot_conn *c)
{
	struct oneshot *s = c->srv;

	loop_del(s->loop, &c->lfd);
	loop_timer_remove(s->loop, &c->deadline);
	close(c->lfd.fd);
	LIST_REMOVE(c, entry);
	s->nconns--;
	free(c->out);
	free(c);
}

/* 0 when all of the reply went out, -EAGAIN when the socket is full, else the error. */
static int flush(struct oneshot_conn *c)
{
	ssize_t n;

	while (c->out_pos < c->out_len) {
		n = send(c->lfd.fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c->out_pos += (size_t)n;
	}
	return 0;
}

static void reply(struct oneshot_conn *c)
{
	struct oneshot *s = c->srv;
	FILE *f = open_memstream(&c->out, &c->out_len);

	if (!f) {
		conn_free(c);
		return;
	}
	s->cfg.serve(s->cfg.ctx, c->in, c->in_len, f);
	if (fclose(f)) {
		conn_free(c);
		return;
	}
	if (flush(c) == -EAGAIN && !loop_mod(s->loop, &c->lfd, EPOLLOUT))
		return;
	shutdown(c->lfd.fd, SHUT_WR);
	conn_free(c);
}

/* true when the request is whole or can grow no more, and should be served now. */
static bool take(struct oneshot_conn *c)
{
	size_t max = c->srv->cfg.request_max;
	ssize_t n;

	while (c->in_len < max) {
		n = recv(c->lfd.fd, c->in + c->in_len, max - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN;
		if (n == 0)
			return true;
		c->in_len += (size_t)n;
		if (c->srv->cfg.complete(c->in, c->in_len))
			return true;
	}
	return true;
}

static void conn_event(struct loop_fd *lfd, uint32_t events)
{
	struct oneshot_conn *c = container_of(lfd, struct oneshot_conn, lfd);

	if (c->out) {
		if (flush(c) == -EAGAIN)
			return;
		shutdown(c->lfd.fd, SHUT_WR);
		conn_free(c);
		return;
	}
	if (take(c))
		reply(c);
}

static void conn_expired(struct loop_timer *t)
{
	struct oneshot_conn *c = container_of(t, struct oneshot_conn, deadline);

	log_limited(LOG_LEVEL_DEBUG, "%s: a client timed out", c->srv->cfg.what);
	conn_free(c);
}

static int conn_start(struct oneshot *s, int fd)
{
	struct oneshot_conn *c = calloc(1, sizeof(*c) + s->cfg.request_max);

	if (!c)
		return -ENOMEM;
	c->srv = s;
	c->lfd.fd = fd;
	c->lfd.cb = conn_event;
	if (loop_timer_add(s->loop, &c->deadline, conn_expired) < 0) {
		free(c);
		return -ENOMEM;
	}
	if (loop_add(s->loop, &c->lfd, EPOLLIN) < 0) {
		loop_timer_remove(s->loop, &c->deadline);
		free(c);
		return -ENOMEM;
	}
	LIST_INSERT_HEAD(&s->conns, c, entry);
	s->nconns++;
	loop_timer_arm(s->loop, &c->deadline, loop_now() + s->cfg.deadline_ns);
	return 0;
}

static void acceptable(struct loop_fd *lfd, uint32_t events)
{
	struct oneshot *s = container_of(lfd, struct oneshot, lfd);

	for (int i = 0; i < ONESHOT_ACCEPT_BATCH; i++) {
		int fd = accept4(lfd->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (s->nconns >= s->cfg.max_conns) {
			log_limited(LOG_LEVEL_WARN, "%s: %u connections open, refusing another",
				    s->cfg.what, s->cfg.max_conns);
			close(fd);
		} else if (conn_start(s, fd) < 0) {
			close(fd);
		}
	}
}

int oneshot_open(struct oneshot **out, struct loop *loop, int listen_fd,
		 const struct oneshot_config *cfg)
{
	struct oneshot *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		close(listen_fd);
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->loop = loop;
	s->lfd.fd = listen_fd;
	s->lfd.cb = acceptable;
	LIST_INIT(&s->conns);
	ret = loop_add(loop, &s->lfd, EPOLLIN);
	if (ret < 0) {
		close(listen_fd);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void oneshot_close(struct oneshot *s)
{
	if (!s)
		return;
	while (!LIST_EMPTY(&s->conns))
		conn_free(LIST_FIRST(&s->conns));
	loop_del(s->loop, &s->lfd);
	close(s->lfd.fd);
	free(s);
}
