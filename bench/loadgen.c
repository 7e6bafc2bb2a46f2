/* Open-loop HTTP/1.1 load at a fixed request rate, for latency percentiles.
 *
 * wrk measures latency in a closed loop (a slow answer delays the next request, so queueing hides
 * from the figures) and wrk2 is not in Debian. This sends request i at start + i / RATE on
 * connection i % CONNS of a set of keep-alive connections, whatever happened before, and counts
 * each latency from that scheduled time to the end of its answer: a stall shows in every request
 * it delays. C rather than Python so that the generator's own jitter stays well below the
 * figures it measures (bench/run.sh builds it with cc).
 *
 * Usage: loadgen HOST PORT RATE SECONDS CONNS  -> one JSON object on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CONNS = 1024, QUEUE = 4096, BUF = 16384 };

static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

struct conn {
	int fd;
	uint64_t due[QUEUE]; /* scheduled send times; the head is in flight when busy */
	unsigned int head, len;
	bool busy, dead;
	char buf[BUF];
	size_t have;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int dial(const char *host, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, one = 1;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Sends the head request when the connection is idle; a keep-alive server answers in order. */
static void kick(struct conn *c)
{
	if (c->busy || !c->len || c->dead)
		return;
	if (send(c->fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != sizeof(request) - 1) {
		c->dead = true;
		return;
	}
	c->busy = true;
}

/* Length of one whole answer at the start of buf, or 0 while it is incomplete. */
static size_t answer_len(const char *buf, size_t have)
{
	const char *end = memmem(buf, have, "\r\n\r\n", 4), *cl;
	size_t head, body = 0;

	if (!end)
		return 0;
	head = end - buf + 4;
	cl = memmem(buf, head, "Content-Length:", 15);
	if (cl)
		body = strtoul(cl + 15, NULL, 10);
	return have >= head + body ? head + body : 0;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] / 1e6 : -1;
}

/* Reads what arrived; every complete answer ends the head request's latency. */
static void drain(struct conn *c, uint64_t *lat, size_t *nlat)
{
	ssize_t r = recv(c->fd, c->buf + c->have, BUF - c->have, MSG_DONTWAIT);
	size_t n;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		c->dead = true;
		return;
	}
	c->have += r;
	while (c->busy && (n = answer_len(c->buf, c->have))) {
		lat[(*nlat)++] = now_ns() - c->due[c->head];
		c->head = (c->head + 1) % QUEUE;
		c->len--;
		c->busy = false;
		memmove(c->buf, c->buf + n, c->have - n);
		c->have -= n;
		kick(c);
	}
	if (c->have == BUF)
		c->dead = true; /* an answer larger than the buffer: not what this measures */
}

int main(int argc, char *argv[])
{
	struct epoll_event ev, evs[64];
	struct conn *conns;
	uint64_t *lat, start, period, deadline, total, sent = 0;
	size_t nlat = 0, dropped = 0, i;
	int ep, nconns, n;
	double rate, secs;

	if (argc != 6) {
		fprintf(stderr, "Usage: %s HOST PORT RATE SECONDS CONNS\n", argv[0]);
		return 2;
	}
	/* A sleeping thread's timers may fire up to its timer slack late (50 us by default), and
	 * every request would then leave that much after its scheduled time, which counts in its
	 * latency: the same offset on every stack, pulling their ratios towards 1. */
	if (prctl(PR_SET_TIMERSLACK, 1UL) < 0)
		perror("prctl(PR_SET_TIMERSLACK)");
	rate = atof(argv[3]);
	secs = atof(argv[4]);
	nconns = atoi(argv[5]);
	if (rate <= 0 || secs <= 0 || nconns < 1 || nconns > MAX_CONNS)
		return 2;
	total = (uint64_t)(rate * secs);
	period = (uint64_t)(1e9 / rate);
	conns = calloc(nconns, sizeof(*conns));
	lat = calloc(total + 1, sizeof(*lat));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || !lat || ep < 0)
		return 1;
	for (n = 0; n < nconns; n++) {
		conns[n].fd = dial(argv[1], atoi(argv[2]));
		if (conns[n].fd < 0) {
			perror("connect");
			return 1;
		}
		ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &conns[n]};
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[n].fd, &ev);
	}
	start = now_ns();
	deadline = start + (uint64_t)(secs * 1e9) + 5000000000u;
	while (nlat + dropped < total && now_ns() < deadline) {
		uint64_t t = now_ns(), wait = 50000000;
		struct timespec to;

		for (; sent < total && start + sent * period <= t; sent++) {
			struct conn *c = &conns[sent % nconns];

			if (c->dead || c->len == QUEUE) {
				dropped++;
				continue;
			}
			c->due[(c->head + c->len++) % QUEUE] = start + sent * period;
			kick(c);
		}
		if (sent < total)
			wait = start + sent * period > t ? start + sent * period - t : 0;
		to = (struct timespec){.tv_sec = wait / 1000000000u, .tv_nsec = wait % 1000000000u};
		n = epoll_pwait2(ep, evs, 64, &to, NULL);
		for (i = 0; n > 0 && i < (size_t)n; i++) {
			struct conn *c = evs[i].data.ptr;

			drain(c, lat, &nlat);
			if (c->dead) {
				dropped += c->len;
				c->len = 0;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
	}
	secs = (now_ns() - start) / 1e9;
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("{\"rate\": %.0f, \"conns\": %d, \"requests\": %zu, \"errors\": %zu, "
	       "\"achieved_rate\": %.1f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
	       "\"p999_ms\": %.3f, \"max_ms\": %.3f}\n",
	       rate, nconns, nlat, (size_t)(total - nlat), nlat / secs, pct(lat, nlat, 50),
	       pct(lat, nlat, 90), pct(lat, nlat, 99), pct(lat, nlat, 99.9), pct(lat, nlat, 100));
	return 0;
}
