/* Event loop: timer order and heap invariants against a naive list, changes made from inside
 * callbacks, fd readiness, busy polling, cross-thread wakeups and signals. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "loop.h"

static struct loop L;

/* Every test arms this so a broken loop fails the check instead of hanging the run. */
static struct loop_timer watchdog;
static bool watchdog_fired;

static void watchdog_cb(struct loop_timer *t)
{
	watchdog_fired = true;
	loop_stop(&L);
}

static void setup(void)
{
	CHECK(loop_init(&L) == 0);
	CHECK(loop_timer_add(&L, &watchdog, watchdog_cb) == 0);
	loop_timer_arm(&L, &watchdog, loop_now() + 2 * NSEC_PER_SEC);
	watchdog_fired = false;
}

static void teardown(void)
{
	CHECK(!watchdog_fired);
	loop_free(&L);
}

/* ---- timers ---- */

struct tt {
	struct loop_timer timer;
	int id;
};

static int fired[256], nfired;

static void record(struct loop_timer *t)
{
	struct tt *x = container_of(t, struct tt, timer);

	/* The epoll timeout is rounded up: no timer runs before its deadline. */
	CHECK(loop_now() >= t->deadline_ns);
	fired[nfired++] = x->id;
	if (nfired == 200)
		loop_stop(&L);
}

static void test_timer_order(void)
{
	static struct tt t[200];
	uint64_t base = loop_now();

	setup();
	nfired = 0;
	srand(1);
	for (int i = 0; i < 200; i++) {
		t[i].id = i;
		CHECK(loop_timer_add(&L, &t[i].timer, record) == 0);
		/* Deadlines up to 30 ms out, many sharing a millisecond. */
		loop_timer_arm(&L, &t[i].timer, base + (uint64_t)(rand() % 30000) * 1000);
	}
	CHECK(loop_run(&L) == 0);
	CHECK(nfired == 200);
	for (int i = 1; i < nfired; i++)
		CHECK(t[fired[i - 1]].timer.deadline_ns <= t[fired[i]].timer.deadline_ns);
	for (int i = 0; i < 200; i++) {
		CHECK(!loop_timer_pending(&t[i].timer));
		loop_timer_remove(&L, &t[i].timer);
	}
	teardown();
}

/* Random arm/re-arm/disarm against a naive array: the heap's top is always the minimum. */
static void test_timer_heap_naive(void)
{
	static struct tt t[100];
	uint64_t deadline[100];
	bool armed[100] = {0};
	int ok = 1;

	CHECK(loop_init(&L) == 0);
	srand(2);
	for (int i = 0; i < 100; i++)
		CHECK(loop_timer_add(&L, &t[i].timer, record) == 0);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % 100;
		uint64_t min = UINT64_MAX;
		uint32_t n = 0;

		if (rand() % 3) {
			deadline[i] = (uint64_t)rand();
			armed[i] = true;
			loop_timer_arm(&L, &t[i].timer, deadline[i]);
		} else {
			armed[i] = false;
			loop_timer_disarm(&L, &t[i].timer);
		}
		for (int j = 0; j < 100; j++) {
			if (armed[j] != loop_timer_pending(&t[j].timer))
				ok = 0;
			if (armed[j] && deadline[j] < min)
				min = deadline[j];
			n += armed[j];
		}
		if (L.heap_len != n || (n && L.heap[0]->deadline_ns != min))
			ok = 0;
		for (uint32_t k = 0; k < L.heap_len; k++)
			if (L.heap[k]->heap_idx != k)
				ok = 0;
	}
	CHECK(ok);
	CHECK(L.heap_cap >= 100 && L.heap_cap < 256);
	loop_free(&L);
}

/* A re-arms itself three times and disarms B, which was due before A's second run; C stops. */
static struct tt ta, tb, tc;
static int a_runs, b_runs;

static void a_cb(struct loop_timer *t)
{
	loop_timer_disarm(&L, &tb.timer);
	if (++a_runs < 3)
		loop_timer_arm(&L, t, loop_now() + 2 * NSEC_PER_MSEC);
}

static void b_cb(struct loop_timer *t)
{
	b_runs++;
}

static void c_cb(struct loop_timer *t)
{
	/* Re-arming and disarming the running timer itself are both harmless. */
	loop_timer_arm(&L, t, 0);
	loop_timer_disarm(&L, t);
	loop_stop(&L);
}

static void test_timer_rearm_in_cb(void)
{
	uint64_t now;

	setup();
	CHECK(loop_timer_add(&L, &ta.timer, a_cb) == 0);
	CHECK(loop_timer_add(&L, &tb.timer, b_cb) == 0);
	CHECK(loop_timer_add(&L, &tc.timer, c_cb) == 0);
	now = loop_now();
	loop_timer_arm(&L, &ta.timer, now + 1 * NSEC_PER_MSEC);
	loop_timer_arm(&L, &tb.timer, now + 2 * NSEC_PER_MSEC);
	loop_timer_arm(&L, &tc.timer, now + 50 * NSEC_PER_MSEC);
	CHECK(loop_run(&L) == 0);
	CHECK(a_runs == 3);
	CHECK(b_runs == 0);
	CHECK(!loop_timer_pending(&ta.timer) && !loop_timer_pending(&tc.timer));
	CHECK(loop_now() >= now + 50 * NSEC_PER_MSEC);
	teardown();
}

/* ---- fds ---- */

struct pipe_end {
	struct loop_fd lfd;
	int wfd;
	int calls;
	uint32_t events;
	char got;
};

static void pipe_read(struct loop_fd *lfd, uint32_t events)
{
	struct pipe_end *p = container_of(lfd, struct pipe_end, lfd);

	p->calls++;
	p->events = events;
	CHECK(read(lfd->fd, &p->got, 1) == 1);
	loop_stop(&L);
}

static void open_pipe(struct pipe_end *p, void (*cb)(struct loop_fd *, uint32_t))
{
	int fds[2];

	CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
	*p = (struct pipe_end){.lfd = {.fd = fds[0], .cb = cb}, .wfd = fds[1]};
}

static void close_pipe(struct pipe_end *p)
{
	close(p->lfd.fd);
	close(p->wfd);
}

static void test_fd_ready(void)
{
	struct pipe_end p;

	setup();
	open_pipe(&p, pipe_read);
	CHECK(loop_add(&L, &p.lfd, EPOLLIN) == 0);
	CHECK(loop_add(&L, &p.lfd, EPOLLIN) == -EEXIST);
	CHECK(write(p.wfd, "x", 1) == 1);
	CHECK(loop_run(&L) == 0);
	CHECK(p.calls == 1 && p.got == 'x' && (p.events & EPOLLIN));
	CHECK(loop_mod(&L, &p.lfd, EPOLLIN | EPOLLET) == 0);
	CHECK(loop_del(&L, &p.lfd) == 0);
	CHECK(loop_del(&L, &p.lfd) == -ENOENT);
	close_pipe(&p);
	teardown();
}

/* Both pipes are readable in one epoll batch; whichever runs first deletes and frees both, so the
 * other's pending event must be dropped (ASan would flag the use after free). */
static struct pipe_end *pair[2];
static int pair_calls;

static void pair_cb(struct loop_fd *lfd, uint32_t events)
{
	pair_calls++;
	for (int i = 0; i < 2; i++) {
		CHECK(loop_del(&L, &pair[i]->lfd) == 0);
		close_pipe(pair[i]);
		free(pair[i]);
		pair[i] = NULL;
	}
}

static void stop_soon(struct loop_timer *t)
{
	loop_stop(&L);
}

static void test_fd_del_in_cb(void)
{
	struct loop_timer stop;

	setup();
	for (int i = 0; i < 2; i++) {
		pair[i] = malloc(sizeof(*pair[i]));
		open_pipe(pair[i], pair_cb);
		CHECK(write(pair[i]->wfd, "y", 1) == 1);
		CHECK(loop_add(&L, &pair[i]->lfd, EPOLLIN) == 0);
	}
	CHECK(loop_timer_add(&L, &stop, stop_soon) == 0);
	loop_timer_arm(&L, &stop, loop_now() + 20 * NSEC_PER_MSEC);
	CHECK(loop_run(&L) == 0);
	CHECK(pair_calls == 1);
	CHECK(!pair[0] && !pair[1]);
	teardown();
}

/* ---- busy polling ---- */

static struct loop_timer stop_timer;
static uint64_t stop_late_ns;

static void stop_and_time(struct loop_timer *t)
{
	stop_late_ns = loop_now() - t->deadline_ns;
	loop_stop(&L);
}

/* One pipe event, then nothing until a timer 40 ms on stops the loop: the polls that found
 * nothing in between. Counted rather than timed: a busy machine would take the CPU time. */
static uint64_t idle_polls_after_event(uint64_t busy_poll_ns)
{
	struct pipe_end p;
	uint64_t polls;

	setup();
	loop_busy_poll(&L, busy_poll_ns);
	open_pipe(&p, pipe_read);
	CHECK(loop_add(&L, &p.lfd, EPOLLIN) == 0);
	CHECK(write(p.wfd, "x", 1) == 1);
	CHECK(loop_run(&L) == 0 && p.calls == 1); /* pipe_read stops the loop */
	CHECK(loop_timer_add(&L, &stop_timer, stop_and_time) == 0);
	loop_timer_arm(&L, &stop_timer, loop_now() + 40 * NSEC_PER_MSEC);
	polls = L.busy_polls;
	CHECK(loop_run(&L) == 0);
	polls = L.busy_polls - polls;
	CHECK(p.calls == 1);
	close_pipe(&p);
	teardown();
	return polls;
}

static void test_busy_poll_then_sleep(void)
{
	CHECK(idle_polls_after_event(0) == 0);
	/* Polls, yielding in between, and each poll that comes back empty is counted. */
	CHECK(idle_polls_after_event(30 * NSEC_PER_MSEC) >= 2);
	/* Never past a timer: polling up to 1 s still stops the loop at 40 ms. */
	idle_polls_after_event(NSEC_PER_SEC);
	CHECK(stop_late_ns < 30 * NSEC_PER_MSEC);
}

static void *write_later(void *arg)
{
	struct pipe_end *p = arg;

	usleep(5000);
	return (void *)(intptr_t)write(p->wfd, "z", 1); /* checked after the join */
}

static void test_busy_poll_sees_events(void)
{
	struct pipe_end p;
	pthread_t th;
	void *wrote;
	uint64_t start;

	setup();
	loop_busy_poll(&L, 800 * NSEC_PER_MSEC);
	open_pipe(&p, pipe_read);
	CHECK(loop_add(&L, &p.lfd, EPOLLIN) == 0);
	start = loop_now();
	CHECK(pthread_create(&th, NULL, write_later, &p) == 0);
	CHECK(loop_run(&L) == 0); /* pipe_read stops it */
	/* Seen while polling, not once the 800 ms are over. */
	CHECK(loop_now() - start < 400 * NSEC_PER_MSEC);
	pthread_join(th, &wrote);
	CHECK((intptr_t)wrote == 1 && p.calls == 1 && p.got == 'z');
	close_pipe(&p);
	teardown();
}

/* ---- wakeups ---- */

static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static int handed[1000], nhanded, ncollected, nwakes;

static void *worker(void *arg)
{
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&handoff_lock);
		handed[nhanded++] = i;
		pthread_mutex_unlock(&handoff_lock);
		loop_wake(&L);
	}
	return NULL;
}

static bool handoff_bad;

static void collect(struct loop *loop)
{
	nwakes++;
	pthread_mutex_lock(&handoff_lock);
	for (; ncollected < nhanded; ncollected++)
		handoff_bad |= loop != &L || handed[ncollected] != ncollected;
	pthread_mutex_unlock(&handoff_lock);
	if (ncollected == 1000)
		loop_stop(loop);
}

static void test_wake_from_thread(void)
{
	pthread_t th;

	setup();
	loop_set_wake(&L, collect);
	CHECK(pthread_create(&th, NULL, worker, NULL) == 0);
	CHECK(loop_run(&L) == 0);
	pthread_join(th, NULL);
	CHECK(ncollected == 1000 && !handoff_bad);
	CHECK(nwakes >= 1 && nwakes <= 1000);
	teardown();
}

static void *stopper(void *arg)
{
	usleep(10000);
	loop_stop(&L);
	return NULL;
}

static void test_stop_from_thread(void)
{
	pthread_t th;
	uint64_t start;

	setup();
	/* A stop requested before the run is honoured once, not lost. */
	loop_stop(&L);
	CHECK(loop_run(&L) == 0);
	start = loop_now();
	CHECK(pthread_create(&th, NULL, stopper, NULL) == 0);
	CHECK(loop_run(&L) == 0);
	pthread_join(th, NULL);
	CHECK(loop_now() - start >= 10 * NSEC_PER_MSEC);
	teardown();
}

/* ---- calls from another thread ---- */

struct call_rec {
	pthread_t ran_on;
	int runs;
};

static void note_call(void *arg)
{
	struct call_rec *r = arg;

	r->ran_on = pthread_self();
	r->runs++;
}

static int run_loop_failures; /* read after the join: the checks are not thread-safe */

static void *run_loop(void *arg)
{
	if (loop_run(&L) != 0)
		run_loop_failures++;
	return NULL;
}

static void test_call(void)
{
	struct call_rec r = { 0 };
	pthread_t th;
	int on_loop = 0;

	setup();
	/* No thread runs the loop: the caller runs it. */
	loop_call(&L, note_call, &r);
	CHECK(r.runs == 1 && pthread_equal(r.ran_on, pthread_self()));
	CHECK(pthread_create(&th, NULL, run_loop, NULL) == 0);
	/* Until the thread is inside loop_run() the caller still runs the call itself (and, calling
	 * in a tight loop, could keep the lock from the thread for long). */
	do {
		usleep(100);
		loop_call(&L, note_call, &r);
	} while (!pthread_equal(r.ran_on, th) && r.runs < 10000);
	r.runs = 1;
	for (int i = 0; i < 300; i++) {
		loop_call(&L, note_call, &r);
		on_loop += pthread_equal(r.ran_on, th) != 0;
	}
	CHECK(r.runs == 301);
	CHECK(on_loop == 300);
	/* A call racing the loop's end runs once, on one side or the other, and returns. */
	loop_stop(&L);
	loop_call(&L, note_call, &r);
	CHECK(r.runs == 302);
	pthread_join(th, NULL);
	for (int i = 0; i < 200; i++) {
		CHECK(pthread_create(&th, NULL, run_loop, NULL) == 0);
		if (i & 1)
			loop_call(&L, note_call, &r);
		loop_stop(&L);
		loop_call(&L, note_call, &r);
		pthread_join(th, NULL);
	}
	CHECK(r.runs == 302 + 300);
	CHECK(run_loop_failures == 0);
	teardown();
}

/* ---- signals ---- */

static int got_signo, sig_calls;

static void on_signal(struct loop *loop, int signo)
{
	got_signo = signo;
	sig_calls++;
	loop_stop(loop);
}

static void test_signal(void)
{
	sigset_t cur;

	setup();
	CHECK(loop_signal(&L, SIGHUP, on_signal) == 0);
	CHECK(loop_signal(&L, SIGTERM, on_signal) == 0);
	CHECK(loop_signal(&L, 0, on_signal) == -EINVAL);
	CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0);
	CHECK(sigismember(&cur, SIGHUP) && sigismember(&cur, SIGTERM));
	CHECK(raise(SIGHUP) == 0);
	CHECK(loop_run(&L) == 0);
	CHECK(got_signo == SIGHUP && sig_calls == 1);
	CHECK(raise(SIGTERM) == 0);
	CHECK(loop_run(&L) == 0);
	CHECK(got_signo == SIGTERM && sig_calls == 2);
	teardown();
}

int main(void)
{
	RUN(test_timer_order);
	RUN(test_timer_heap_naive);
	RUN(test_timer_rearm_in_cb);
	RUN(test_fd_ready);
	RUN(test_fd_del_in_cb);
	RUN(test_busy_poll_then_sleep);
	RUN(test_busy_poll_sees_events);
	RUN(test_wake_from_thread);
	RUN(test_stop_from_thread);
	RUN(test_call);
	RUN(test_signal);
	return check_done("loop");
}
