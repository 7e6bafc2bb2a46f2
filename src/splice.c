/* Moving the bytes of one direction of a TCP relay: with splice(2) through a pipe, the kernel
 * moving pages from socket to socket, or by copying through the direction's fixed buffer. Bytes
 * already in the buffer (our PROXY header, the early bytes read before routing) always leave
 * first; the pipe's bytes were read after them.
 *
 * The sockets are edge-triggered, so each call goes on until it would block (or has done
 * FWD_PUMP_ROUNDS rounds and says so), and never reads more than the buffer or pipe holds. A
 * recv() that returns less than it was offered has emptied the socket, so the source is not
 * read again until its next edge: a request costs one recv() and one send(), not a third call
 * to hear EAGAIN. A FIN seen with the edge (EPOLLRDHUP) keeps reading on to the end of stream,
 * since no edge follows a FIN that is already there. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "fwd.h"

static int open_pipe(struct fwd_dir *d)
{
	int cap;

	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	/* A bigger pipe means fewer wakeups per megabyte; the default size still works. */
	cap = fcntl(d->pipe[1], F_SETPIPE_SZ, FWD_PIPE_SIZE);
	if (cap < 0)
		cap = fcntl(d->pipe[1], F_GETPIPE_SZ);
	if (cap <= 0)
		return -EINVAL;
	d->pipe_cap = (uint32_t)cap;
	return 0;
}

void fwd_dir_events(struct fwd_dir *d, uint32_t source_events)
{
	if (source_events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		d->readable = true;
	if (source_events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		d->rdhup = true;
}

void fwd_dir_close(struct fwd_dir *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->pipe[i] >= 0)
			close(d->pipe[i]);
		d->pipe[i] = -1;
	}
}

static bool pending(const struct fwd_dir *d)
{
	return d->off < d->len || d->in_pipe;
}

/* Writes what d holds, buffer first: >0 written, 0 would block or nothing to do, <0 error. */
static ssize_t drain(struct fwd_dir *d, int fd)
{
	ssize_t n;

	if (d->off < d->len) {
		n = send(fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
		if (n > 0 && (d->off += (uint32_t)n) == d->len)
			d->off = d->len = 0;
	} else if (d->in_pipe) {
		n = splice(d->pipe[0], NULL, fd, NULL, d->in_pipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0)
			d->in_pipe -= (uint32_t)n;
	} else {
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	return n;
}

/* A read that filled the buffer marks a bulk transfer: from now on through a pipe. */
static void take_pipe(struct fwd_dir *d)
{
	d->may_splice = false;
	if (open_pipe(d) < 0) {
		fwd_dir_close(d);
		d->pipe_failed = true;
	}
}

static ssize_t fill_copy(struct fwd_dir *d, int fd)
{
	size_t room;
	ssize_t n;

	if (d->off && d->len == FWD_BUF_SIZE) {
		memmove(d->buf, d->buf + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	room = FWD_BUF_SIZE - d->len;
	n = recv(fd, d->buf + d->len, room, 0);
	if (n > 0) {
		d->len += (uint32_t)n;
		if ((size_t)n == room && d->may_splice)
			take_pipe(d);
		else if ((size_t)n < room && !d->rdhup)
			d->readable = false;
	}
	return n;
}

/* A splice that would block while the pipe holds bytes may mean the pipe is full (it counts
 * pages, not bytes) rather than the socket empty; the pump drains before it trusts it. */
static ssize_t fill_splice(struct fwd_dir *d, int fd)
{
	ssize_t n;

	n = splice(fd, NULL, d->pipe[1], NULL, d->pipe_cap - d->in_pipe,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0)
		d->in_pipe += (uint32_t)n;
	return n;
}

/* Whether a read could take anything: a full buffer or pipe waits for the destination. */
static bool has_room(const struct fwd_dir *d)
{
	if (d->pipe[1] >= 0)
		return d->in_pipe < d->pipe_cap;
	return d->len < FWD_BUF_SIZE || d->off;
}

/* Reads what d has room for: >0 read, 0 would block (or no room, or EOF: see d->eof), <0
 * error. Only a read that returned 0 is an end of stream. */
static ssize_t fill(struct fwd_dir *d, int fd)
{
	ssize_t n;

	if (d->eof || !d->readable || !has_room(d))
		return 0;
	n = d->pipe[1] >= 0 ? fill_splice(d, fd) : fill_copy(d, fd);
	/* EAGAIN empties the socket only for recv() or an empty pipe: a pipe holding bytes may be
	 * out of slots instead (see fill_splice), and is drained before the socket is asked again. */
	if (n < 0 && errno == EAGAIN && (d->pipe[1] < 0 || !d->in_pipe))
		d->readable = false;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		d->eof = true;
	d->bytes += (uint64_t)n;
	return n;
}

/* Moves one direction until it blocks. Returns 0, or a negative errno with *at_source telling
 * whether reading the source or writing the destination failed. */
int fwd_dir_pump(struct fwd_dir *d, int from, int to, uint64_t *counter, bool *at_source,
		 bool *again, bool *moved)
{
	for (int round = 0; round < FWD_PUMP_ROUNDS; round++) {
		bool eof = d->eof;
		ssize_t w = drain(d, to), r;

		*at_source = false;
		if (w < 0)
			return (int)w;
		*at_source = true;
		r = fill(d, from);
		if (r < 0)
			return (int)r;
		*counter += (uint64_t)r;
		if (w == 0 && r == 0 && eof == d->eof)
			goto blocked;
		*moved = true;
	}
	*again = true;
blocked:
	if (d->eof && !pending(d) && !d->shut) {
		if (!d->close_next)
			shutdown(to, SHUT_WR);
		d->shut = true;
	}
	return 0;
}
