/* sd_notify without libsystemd: $NOTIFY_SOCKET parsing, the watchdog period, and datagrams
 * actually arriving at a socket the test binds (abstract and path), watchdog ones included. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "loop.h"
#include "sdnotify.h"

static void test_address(void)
{
	struct sockaddr_un sun;
	socklen_t len = 0;
	char longname[200];

	CHECK(sdnotify_address("/run/systemd/notify", &sun, &len) == 0);
	CHECK(!strcmp(sun.sun_path, "/run/systemd/notify") && len == sizeof(sun));
	CHECK(sdnotify_address("@abc", &sun, &len) == 0);
	CHECK(sun.sun_path[0] == '\0' && !memcmp(sun.sun_path + 1, "abc", 3));
	CHECK(len == offsetof(struct sockaddr_un, sun_path) + 4);
	CHECK(sdnotify_address("relative/path", &sun, &len) == -EINVAL);
	CHECK(sdnotify_address("", &sun, &len) == -EINVAL);
	CHECK(sdnotify_address("@", &sun, &len) == -EINVAL);
	CHECK(sdnotify_address(NULL, &sun, &len) == -EINVAL);
	CHECK(sdnotify_address("vsock:2:1234", &sun, &len) == -EAFNOSUPPORT);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	CHECK(sdnotify_address(longname, &sun, &len) == -EINVAL);
}

static void test_watchdog_period(void)
{
	CHECK(sdnotify_watchdog_period("30000000", NULL, 42) == 15 * NSEC_PER_SEC);
	CHECK(sdnotify_watchdog_period("30000000", "42", 42) == 15 * NSEC_PER_SEC);
	CHECK(sdnotify_watchdog_period("30000000", "43", 42) == 0);
	CHECK(sdnotify_watchdog_period("30000000", "x", 42) == 0);
	CHECK(sdnotify_watchdog_period(NULL, NULL, 42) == 0);
	CHECK(sdnotify_watchdog_period("0", NULL, 42) == 0);
	CHECK(sdnotify_watchdog_period("-5", NULL, 42) == 0);
	CHECK(sdnotify_watchdog_period("12abc", NULL, 42) == 0);
	CHECK(sdnotify_watchdog_period("99999999999999999999999", NULL, 42) == 0);
	CHECK(sdnotify_watchdog_period("3", NULL, 42) == 1500);
}

/* A datagram socket standing in for systemd's; name is what goes into $NOTIFY_SOCKET. */
static int fake_systemd(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = 2};

	if (fd < 0 || sdnotify_address(name, &sun, &len) < 0)
		return -1;
	if (name[0] == '/')
		unlink(name);
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setenv("NOTIFY_SOCKET", name, 1);
	return fd;
}

static bool got(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, want);
}

static void test_send(void)
{
	char name[64], path[64];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	CHECK(sdnotify_send("READY=1") == 0); /* not under systemd: nothing to do */

	snprintf(name, sizeof(name), "@porthole-test-sdnotify-%d", (int)getpid());
	fd = fake_systemd(name);
	CHECK(fd >= 0);
	CHECK(sdnotify_send("READY=1") == 0);
	CHECK(got(fd, "READY=1"));
	CHECK(sdnotify_send("STOPPING=1") == 0);
	CHECK(got(fd, "STOPPING=1"));
	close(fd);
	CHECK(sdnotify_send("READY=1") == -ECONNREFUSED); /* systemd gone: the error comes back */

	snprintf(path, sizeof(path), "/tmp/porthole-test-sdnotify-%d", (int)getpid());
	fd = fake_systemd(path);
	CHECK(fd >= 0);
	CHECK(sdnotify_send("RELOADING=1") == 0);
	CHECK(got(fd, "RELOADING=1"));
	close(fd);
	unlink(path);

	setenv("NOTIFY_SOCKET", "not/absolute", 1);
	CHECK(sdnotify_send("READY=1") == -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

static struct loop_timer stopper;
static struct loop *stop_loop;

static void stop(struct loop_timer *t)
{
	loop_stop(stop_loop);
}

static int count_watchdogs(int fd)
{
	char buf[64];
	ssize_t n;
	int count = 0;

	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		count += !strcmp(buf, "WATCHDOG=1");
	}
	return count;
}

/* WATCHDOG_USEC = 40 ms: a keep-alive at once, then every 20 ms while the loop runs. */
static void test_watchdog(void)
{
	struct sdnotify sd = {0};
	struct loop loop;
	char name[64], pid[16];
	int fd, n;

	snprintf(name, sizeof(name), "@porthole-test-watchdog-%d", (int)getpid());
	fd = fake_systemd(name);
	CHECK(fd >= 0);
	CHECK(loop_init(&loop) == 0);
	stop_loop = &loop;
	CHECK(loop_timer_add(&loop, &stopper, stop) == 0);

	unsetenv("WATCHDOG_USEC");
	CHECK(sdnotify_watchdog_start(&sd, &loop, NULL) == 0);
	CHECK(sd.loop == NULL); /* no watchdog asked for: no timer */
	setenv("WATCHDOG_USEC", "40000", 1);
	setenv("WATCHDOG_PID", "1", 1); /* someone else's */
	CHECK(sdnotify_watchdog_start(&sd, &loop, NULL) == 0);
	CHECK(sd.loop == NULL);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	CHECK(sdnotify_watchdog_start(&sd, &loop, NULL) == 0);
	CHECK(sd.loop == &loop && sd.interval_ns == 20 * NSEC_PER_MSEC);

	loop_timer_arm(&loop, &stopper, loop_now() + 110 * NSEC_PER_MSEC);
	CHECK(loop_run(&loop) == 0);
	n = count_watchdogs(fd);
	CHECK(n >= 4 && n <= 7); /* 0, 20, 40, 60, 80, 100 ms; a slow machine may miss some */

	sdnotify_watchdog_stop(&sd);
	CHECK(sd.loop == NULL);
	loop_timer_arm(&loop, &stopper, loop_now() + 50 * NSEC_PER_MSEC);
	CHECK(loop_run(&loop) == 0);
	CHECK(count_watchdogs(fd) == 0); /* stopped means stopped */

	loop_timer_remove(&loop, &stopper);
	loop_free(&loop);
	close(fd);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("NOTIFY_SOCKET");
}

/* The gateway's loop wedged in a callback: no keep-alive goes out until it turns again. */
static sem_t wedge, wedged;
static int wedge_fd, while_wedged;

static void stuck(struct loop_timer *t)
{
	sem_post(&wedged);
	sem_wait(&wedge);
}

static void *run_other(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void *unwedge_later(void *arg)
{
	usleep(100000);
	while_wedged = count_watchdogs(wedge_fd);
	sem_post(&wedge);
	return NULL;
}

static void test_watchdog_waits_for_other_loop(void)
{
	struct sdnotify sd = {0};
	struct loop loop, other;
	struct loop_timer hang;
	char name[64], pid[16];
	pthread_t th, un;
	int before, after;

	snprintf(name, sizeof(name), "@porthole-test-watchdog2-%d", (int)getpid());
	wedge_fd = fake_systemd(name);
	CHECK(wedge_fd >= 0);
	CHECK(loop_init(&loop) == 0 && loop_init(&other) == 0);
	sem_init(&wedge, 0, 0);
	sem_init(&wedged, 0, 0);
	stop_loop = &loop;
	CHECK(loop_timer_add(&loop, &stopper, stop) == 0);
	CHECK(loop_timer_add(&other, &hang, stuck) == 0);
	CHECK(pthread_create(&th, NULL, run_other, &other) == 0);
	setenv("WATCHDOG_USEC", "40000", 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	usleep(20000); /* the other thread inside loop_run(), so calls go to it */
	CHECK(sdnotify_watchdog_start(&sd, &loop, &other) == 0);
	loop_timer_arm(&loop, &stopper, loop_now() + 70 * NSEC_PER_MSEC);
	CHECK(loop_run(&loop) == 0);
	before = count_watchdogs(wedge_fd);

	/* Wedged, the other loop holds the main one's next tick in loop_call() for 100 ms. */
	loop_timer_arm(&other, &hang, loop_now());
	loop_wake(&other);
	sem_wait(&wedged);
	CHECK(pthread_create(&un, NULL, unwedge_later, NULL) == 0);
	loop_timer_arm(&loop, &stopper, loop_now() + 40 * NSEC_PER_MSEC);
	CHECK(loop_run(&loop) == 0);
	pthread_join(un, NULL);
	after = count_watchdogs(wedge_fd);
	fprintf(stderr, "  keep-alives: %d before, %d while wedged, %d after\n", before,
		while_wedged, after);
	CHECK(before >= 2);
	CHECK(while_wedged == 0);
	CHECK(after >= 1);

	sdnotify_watchdog_stop(&sd);
	loop_stop(&other);
	pthread_join(th, NULL);
	loop_timer_remove(&loop, &stopper);
	loop_timer_remove(&other, &hang);
	loop_free(&loop);
	loop_free(&other);
	close(wedge_fd);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	RUN(test_address);
	RUN(test_watchdog_period);
	RUN(test_send);
	RUN(test_watchdog);
	RUN(test_watchdog_waits_for_other_loop);
	return check_done("sdnotify");
}
