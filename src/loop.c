/* Event loop: epoll, timer heap, eventfd wakeups, signalfd. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include "log.h"
#include "loop.h"

uint64_t loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---- fds ---- */

static int ctl(struct loop *loop, int op, struct loop_fd *lfd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = lfd};

	if (epoll_ctl(loop->epfd, op, lfd->fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_add(struct loop *loop, struct loop_fd *lfd, uint32_t events)
{
	return ctl(loop, EPOLL_CTL_ADD, lfd, events);
}

int loop_mod(struct loop *loop, struct loop_fd *lfd, uint32_t events)
{
	return ctl(loop, EPOLL_CTL_MOD, lfd, events);
}

void loop_forget(struct loop *loop, struct loop_fd *lfd)
{
	/* Its owner may free lfd now: forget events for it that this dispatch has not reached. */
	for (int i = loop->cursor + 1; i < loop->nevents; i++)
		if (loop->events[i].data.ptr == lfd)
			loop->events[i].data.ptr = NULL;
}

int loop_del(struct loop *loop, struct loop_fd *lfd)
{
	int ret = ctl(loop, EPOLL_CTL_DEL, lfd, 0);

	loop_forget(loop, lfd);
	return ret;
}

/* ---- timers: a binary min-heap of armed timers, each knowing its own index ---- */

static bool before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->deadline_ns < b->deadline_ns;
}

static void place(struct loop *loop, struct loop_timer *t, uint32_t i)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void sift_up(struct loop *loop, uint32_t i)
{
	struct loop_timer *t = loop->heap[i];

	while (i > 0 && before(t, loop->heap[(i - 1) / 2])) {
		place(loop, loop->heap[(i - 1) / 2], i);
		i = (i - 1) / 2;
	}
	place(loop, t, i);
}

static void sift_down(struct loop *loop, uint32_t i)
{
	struct loop_timer *t = loop->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= loop->heap_len)
			break;
		if (c + 1 < loop->heap_len && before(loop->heap[c + 1], loop->heap[c]))
			c++;
		if (!before(loop->heap[c], t))
			break;
		place(loop, loop->heap[c], i);
		i = c;
	}
	place(loop, t, i);
}

static void resift(struct loop *loop, uint32_t i)
{
	if (i > 0 && before(loop->heap[i], loop->heap[(i - 1) / 2]))
		sift_up(loop, i);
	else
		sift_down(loop, i);
}

int loop_timer_add(struct loop *loop, struct loop_timer *timer, void (*cb)(struct loop_timer *))
{
	timer->cb = cb;
	timer->deadline_ns = 0;
	timer->heap_idx = LOOP_TIMER_IDLE;
	if (loop->timers == loop->heap_cap) {
		uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : LOOP_TIMERS_MIN;
		struct loop_timer **heap = reallocarray(loop->heap, cap, sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	loop->timers++;
	return 0;
}

void loop_timer_remove(struct loop *loop, struct loop_timer *timer)
{
	loop_timer_disarm(loop, timer);
	loop->timers--;
}

void loop_timer_arm(struct loop *loop, struct loop_timer *timer, uint64_t deadline_ns)
{
	timer->deadline_ns = deadline_ns;
	if (loop_timer_pending(timer)) {
		resift(loop, timer->heap_idx);
		return;
	}
	/* Cannot overflow: loop_timer_add() reserved a slot for every registered timer. */
	loop->heap_len++;
	place(loop, timer, loop->heap_len - 1);
	sift_up(loop, timer->heap_idx);
}

void loop_timer_disarm(struct loop *loop, struct loop_timer *timer)
{
	uint32_t i = timer->heap_idx;

	if (!loop_timer_pending(timer))
		return;
	timer->heap_idx = LOOP_TIMER_IDLE;
	if (--loop->heap_len == i)
		return;
	place(loop, loop->heap[loop->heap_len], i);
	resift(loop, i);
}

/* Milliseconds until the earliest deadline, rounded up so a timer never fires early. */
static int timeout_ms(struct loop *loop, uint64_t now)
{
	uint64_t ns, ms;

	if (!loop->heap_len)
		return -1;
	if (loop->heap[0]->deadline_ns <= now)
		return 0;
	ns = loop->heap[0]->deadline_ns - now;
	ms = (ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Fires what had expired when the pass began, at most once each; a callback that re-arms into
 * the past is served on the next pass, after the fds, instead of starving them. */
static void expire(struct loop *loop, uint64_t now)
{
	uint32_t budget = loop->heap_len;

	while (budget-- && loop->heap_len && loop->heap[0]->deadline_ns <= now) {
		struct loop_timer *t = loop->heap[0];

		loop_timer_disarm(loop, t);
		t->cb(t);
	}
}

/* ---- wakeups and signals ---- */

void loop_set_wake(struct loop *loop, loop_wake_fn cb)
{
	loop->wake_cb = cb;
}

void loop_wake(struct loop *loop)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the loop is woken either way. */
	if (write(loop->wake.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_errno(LOG_LEVEL_ERR, errno, "loop: eventfd write");
}

/* The posted call, if any, on the loop thread. */
static void run_call(struct loop *loop)
{
	void (*fn)(void *);
	void *arg;
	uint64_t seq;

	pthread_mutex_lock(&loop->call_lock);
	fn = loop->call_fn;
	arg = loop->call_arg;
	seq = loop->call_posted;
	pthread_mutex_unlock(&loop->call_lock);
	if (!fn)
		return;
	fn(arg);
	pthread_mutex_lock(&loop->call_lock);
	loop->call_fn = NULL;
	loop->call_done = seq;
	pthread_cond_broadcast(&loop->call_cond);
	pthread_mutex_unlock(&loop->call_lock);
}

void loop_call(struct loop *loop, void (*fn)(void *arg), void *arg)
{
	uint64_t mine;

	pthread_mutex_lock(&loop->call_lock);
	while (loop->call_fn) /* another thread's call first, even if the loop is stopping */
		pthread_cond_wait(&loop->call_cond, &loop->call_lock);
	if (!loop->running || pthread_equal(loop->runner, pthread_self())) {
		pthread_mutex_unlock(&loop->call_lock);
		fn(arg);
		return;
	}
	loop->call_fn = fn;
	loop->call_arg = arg;
	mine = ++loop->call_posted;
	loop_wake(loop);
	while (loop->call_done < mine)
		pthread_cond_wait(&loop->call_cond, &loop->call_lock);
	pthread_mutex_unlock(&loop->call_lock);
}

static void woken(struct loop_fd *lfd, uint32_t events)
{
	struct loop *loop = container_of(lfd, struct loop, wake);
	uint64_t n;

	if (read(lfd->fd, &n, sizeof(n)) < 0)
		return;
	run_call(loop);
	if (loop->wake_cb)
		loop->wake_cb(loop);
}

static void signalled(struct loop_fd *lfd, uint32_t events)
{
	struct loop *loop = container_of(lfd, struct loop, signal);
	struct signalfd_siginfo si;

	while (read(lfd->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo < LOOP_SIGNALS_MAX && loop->sig_cb[si.ssi_signo])
			loop->sig_cb[si.ssi_signo](loop, (int)si.ssi_signo);
	}
}

int loop_signal(struct loop *loop, int signo, loop_signal_fn cb)
{
	sigset_t one;
	int fd, ret;

	if (signo <= 0 || signo >= LOOP_SIGNALS_MAX)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	ret = -pthread_sigmask(SIG_BLOCK, &one, NULL);
	if (ret)
		return ret;
	sigaddset(&loop->sigmask, signo);
	fd = signalfd(loop->signal.fd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	loop->sig_cb[signo] = cb;
	if (loop->signal.fd >= 0)
		return 0;
	loop->signal.fd = fd;
	ret = loop_add(loop, &loop->signal, EPOLLIN);
	if (ret) {
		close(fd);
		loop->signal.fd = -1;
	}
	return ret;
}

/* ---- running ---- */

int loop_init(struct loop *loop)
{
	int ret;

	memset(loop, 0, sizeof(*loop));
	sigemptyset(&loop->sigmask);
	atomic_init(&loop->stopping, false);
	loop->signal = (struct loop_fd){.fd = -1, .cb = signalled};
	loop->wake = (struct loop_fd){.fd = -1, .cb = woken};
	pthread_mutex_init(&loop->call_lock, NULL);
	pthread_cond_init(&loop->call_cond, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	loop->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake.fd < 0) {
		ret = -errno;
		goto err_epoll;
	}
	ret = loop_add(loop, &loop->wake, EPOLLIN);
	if (ret)
		goto err_wake;
	return 0;

err_wake:
	close(loop->wake.fd);
err_epoll:
	close(loop->epfd);
	loop->epfd = loop->wake.fd = -1;
	return ret;
}

void loop_free(struct loop *loop)
{
	if (loop->signal.fd >= 0)
		close(loop->signal.fd);
	if (loop->wake.fd >= 0)
		close(loop->wake.fd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	pthread_mutex_destroy(&loop->call_lock);
	pthread_cond_destroy(&loop->call_cond);
	free(loop->heap);
	loop->heap = NULL;
	loop->heap_len = loop->heap_cap = loop->timers = 0;
	loop->epfd = loop->wake.fd = loop->signal.fd = -1;
}

static void dispatch(struct loop *loop)
{
	for (loop->cursor = 0; loop->cursor < loop->nevents; loop->cursor++) {
		struct epoll_event *ev = &loop->events[loop->cursor];
		struct loop_fd *lfd = ev->data.ptr;

		if (lfd)
			lfd->cb(lfd, ev->events);
	}
	loop->nevents = loop->cursor = 0;
}

static void set_running(struct loop *loop, bool running)
{
	pthread_mutex_lock(&loop->call_lock);
	loop->runner = pthread_self();
	loop->running = running;
	pthread_cond_broadcast(&loop->call_cond); /* callers waiting for a turn call directly now */
	pthread_mutex_unlock(&loop->call_lock);
}

void loop_busy_poll(struct loop *loop, uint64_t ns)
{
	atomic_store_explicit(&loop->busy_poll_ns, ns, memory_order_relaxed);
}

uint64_t loop_busy_poll_ns(struct loop *loop)
{
	return atomic_load_explicit(&loop->busy_poll_ns, memory_order_relaxed);
}

/* Why poll at all: on a VM whose idle vCPU halts, waking a thread that sleeps on another CPU
 * costs the host's wake-up of that vCPU (16 to 20 us here, docs/design.md), several times per
 * request through a tunnel. A loop that polls a little after its work keeps its CPU awake for
 * the answer that usually follows. The yield between polls lets a thread that shares the CPU
 * run first, so polling only takes time that would otherwise be idle. Never past a timer. */
static int wait_events(struct loop *loop)
{
	uint64_t now = loop_now();
	uint64_t ns = loop_busy_poll_ns(loop);
	int timeout = timeout_ms(loop, now);

	if (ns && timeout != 0) {
		uint64_t end = now + ns;

		if (loop->heap_len && loop->heap[0]->deadline_ns < end)
			end = loop->heap[0]->deadline_ns;
		do {
			int n = epoll_wait(loop->epfd, loop->events, LOOP_EVENTS_MAX, 0);

			if (n != 0)
				return n;
			loop->busy_polls++;
			sched_yield();
			now = loop_now();
		} while (now < end);
		timeout = timeout_ms(loop, now);
	}
	return epoll_wait(loop->epfd, loop->events, LOOP_EVENTS_MAX, timeout);
}

static int run(struct loop *loop)
{
	/* A stop requested before the run began still counts; it is consumed on the way out. */
	while (!atomic_exchange(&loop->stopping, false)) {
		int n = wait_events(loop);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		loop->nevents = n;
		dispatch(loop);
		expire(loop, loop_now());
	}
	return 0;
}

int loop_run(struct loop *loop)
{
	int ret;

	set_running(loop, true);
	ret = run(loop);
	set_running(loop, false);
	run_call(loop); /* posted before the loop stopped: its caller waits for it */
	return ret;
}

void loop_stop(struct loop *loop)
{
	atomic_store(&loop->stopping, true);
	loop_wake(loop);
}
