/* An event loop, one per thread that runs one: epoll for fds, a binary min-heap of timers, an
 * eventfd so other threads can wake the loop thread, and a signalfd for SIGTERM/SIGINT/SIGHUP.
 *
 * Everything here runs on the loop thread except loop_wake(), loop_stop() and loop_call(), which
 * any thread may call. Callbacks may add, modify and delete fds (their own included) and arm or disarm timers
 * while the loop dispatches; an fd deleted during dispatch gets no further callback, so its owner
 * may free it as soon as loop_del() returns. */
#ifndef PORTHOLE_LOOP_H
#define PORTHOLE_LOOP_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include "compat.h"

enum loop_limits {
	LOOP_EVENTS_MAX = 64,  /* epoll events taken per wakeup */
	LOOP_TIMERS_MIN = 16,  /* first heap allocation, in timers */
	LOOP_SIGNALS_MAX = 65, /* signal numbers 1..64 */
};

struct loop;

/* Embed in the owner and recover it with container_of() in cb. events are EPOLLIN/EPOLLOUT/... */
struct loop_fd {
	int fd;
	void (*cb)(struct loop_fd *lfd, uint32_t events);
};

/* Embed in the owner. heap_idx is private; LOOP_TIMER_IDLE while the timer is not armed. */
#define LOOP_TIMER_IDLE UINT32_MAX
struct loop_timer {
	uint64_t deadline_ns;
	void (*cb)(struct loop_timer *timer);
	uint32_t heap_idx;
};

typedef void (*loop_wake_fn)(struct loop *loop);
typedef void (*loop_signal_fn)(struct loop *loop, int signo);

struct loop {
	int epfd;
	struct loop_fd wake;   /* eventfd */
	struct loop_fd signal; /* signalfd, -1 until loop_signal() */
	loop_wake_fn wake_cb;
	sigset_t sigmask;
	loop_signal_fn sig_cb[LOOP_SIGNALS_MAX];
	atomic_bool stopping;

	struct loop_timer **heap; /* min-heap on deadline_ns */
	uint32_t heap_len, heap_cap, timers;

	/* The batch being dispatched, so loop_del() can cancel events still pending in it. */
	struct epoll_event events[LOOP_EVENTS_MAX];
	int nevents, cursor;

	/* loop_call(): one call at a time, handed over under call_lock. */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	void (*call_fn)(void *arg);
	void *call_arg;
	uint64_t call_posted, call_done; /* sequence numbers */
	pthread_t runner;		 /* the thread in loop_run(), while running */
	bool running;
	_Atomic uint64_t busy_poll_ns; /* see loop_busy_poll() */
	uint64_t busy_polls;	       /* polls that found nothing, on the loop's thread */
};

int loop_init(struct loop *loop);
/* Closes the loop's own fds and frees the heap. Registered fds are the owners' to close; signals
 * blocked by loop_signal() stay blocked. */
void loop_free(struct loop *loop);

/* Busy polling: after each pass, poll without sleeping for up to ns (0: never) before blocking,
 * yielding the CPU between polls. Any thread may set it; the loop reads it before each wait. */
void loop_busy_poll(struct loop *loop, uint64_t ns);
uint64_t loop_busy_poll_ns(struct loop *loop);

/* CLOCK_MONOTONIC in nanoseconds: the one clock read; pass its value on to protocol code. */
uint64_t loop_now(void);

/* events is an EPOLL* mask; add EPOLLET for edge-triggered. lfd->fd and lfd->cb must be set. */
int loop_add(struct loop *loop, struct loop_fd *lfd, uint32_t events);
int loop_mod(struct loop *loop, struct loop_fd *lfd, uint32_t events);
int loop_del(struct loop *loop, struct loop_fd *lfd);
/* For an fd about to be closed that no other process or descriptor shares: close() removes it
 * from the epoll set, so only the events of this dispatch need forgetting. */
void loop_forget(struct loop *loop, struct loop_fd *lfd);

/* loop_timer_add() registers a timer (idle) and is the only timer call that may allocate, so that
 * arming never fails. loop_timer_remove() disarms and unregisters it before its owner frees it. */
int loop_timer_add(struct loop *loop, struct loop_timer *timer, void (*cb)(struct loop_timer *));
void loop_timer_remove(struct loop *loop, struct loop_timer *timer);
/* (Re)arms to fire once at deadline_ns (loop_now() time base); an armed timer is moved. */
void loop_timer_arm(struct loop *loop, struct loop_timer *timer, uint64_t deadline_ns);
void loop_timer_disarm(struct loop *loop, struct loop_timer *timer);
static inline bool loop_timer_pending(const struct loop_timer *timer)
{
	return timer->heap_idx != LOOP_TIMER_IDLE;
}

/* cb runs on the loop thread after one or more loop_wake() calls from any thread: workers queue
 * their finished batches, then wake the loop to collect them. */
void loop_set_wake(struct loop *loop, loop_wake_fn cb);
void loop_wake(struct loop *loop);

/* Runs fn(arg) on the loop's thread and returns once it has run: at once when called from that
 * thread or while no thread runs the loop, else at the loop thread's next wakeup (or as
 * loop_run() returns). For the rare work of another thread on what the loop owns: a reload, a
 * status snapshot. fn must not call loop_call() on the same loop. */
void loop_call(struct loop *loop, void (*fn)(void *arg), void *arg);

/* Blocks signo in the calling thread and delivers it through the loop instead. Call from the main
 * thread before starting workers, so they inherit the mask and the signal is never lost to them. */
int loop_signal(struct loop *loop, int signo, loop_signal_fn cb);

/* Dispatches until loop_stop(); returns 0 then, or a negative errno if epoll fails. */
int loop_run(struct loop *loop);
/* Makes loop_run() return after the current dispatch; safe from any thread. */
void loop_stop(struct loop *loop);

#endif
