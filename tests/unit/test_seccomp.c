/* The daemon's seccomp filter (sandbox.c), installed in forked children with the very function
 * the daemon calls: what the running daemon does survives, and each forbidden call kills the
 * child with SIGSYS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "sandbox.h"
#include "secmem.h"

/* Runs fn in a child under the filter; returns its wait status. The child leaves with _exit so
 * that no sanitizer exit hook (LeakSanitizer ptraces) runs under the filter. */
static int run_filtered(int (*fn)(void))
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		if (sandbox_install() < 0)
			_exit(100);
		_exit(fn() ? 101 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static bool killed_by_sigsys(int status)
{
	return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static void *thread_fn(void *arg)
{
	return arg;
}

/* UDP to itself, an epoll with an eventfd and a timerfd, a pipe, memory, a thread, a read-only
 * open, the secrets allocator: the daemon's life in miniature. */
static int udp_loopback(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char buf[8];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (void *)&a, sizeof(a)) || getsockname(s, (void *)&a, &alen))
		return -1;
	if (sendto(s, "ping", 4, 0, (void *)&a, sizeof(a)) != 4 ||
	    recv(s, buf, sizeof(buf), 0) != 4)
		return -1;
	return close(s);
}

static int loop_fds(void)
{
	struct epoll_event ev = {.events = EPOLLIN}, out;
	struct itimerspec its = {.it_value.tv_nsec = 1000000};
	int ep = epoll_create1(EPOLL_CLOEXEC), efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), p[2];

	if (ep < 0 || efd < 0 || tfd < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) || timerfd_settime(tfd, 0, &its, NULL))
		return -1;
	return epoll_wait(ep, &out, 1, 1000) == 1 ? 0 : -1;
}

static int allowed(void)
{
	pthread_t th;
	void *big = malloc(1 << 22), *sec = secmem_calloc(1, 3000), *ret = NULL;
	int fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
	struct timespec ts;

	if (!big || !sec || fd < 0 || close(fd) || clock_gettime(CLOCK_MONOTONIC, &ts))
		return -1;
	if (pthread_create(&th, NULL, thread_fn, big) || pthread_join(th, &ret) || ret != big)
		return -1;
	free(big);
	secmem_free(sec);
	return udp_loopback() || loop_fds();
}

static int do_packet_socket(void)
{
	return socket(AF_PACKET, SOCK_RAW, 0);
}

static int do_netlink_other(void)
{
	return socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
}

static int do_execve(void)
{
	char *argv[] = {"true", NULL};

	execve("/bin/true", argv, environ);
	return -1;
}

static int do_fork(void)
{
	pid_t pid = fork(); /* clone without CLONE_THREAD */

	if (pid == 0)
		_exit(0);
	return -1;
}

static int do_ptrace(void)
{
	return (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static int do_mount(void)
{
	return mount("none", "/mnt", "tmpfs", 0, NULL);
}

static int do_open_write(void)
{
	return open("/tmp/porthole-seccomp-test", O_WRONLY | O_CREAT, 0600);
}

static int do_kill_parent(void)
{
	return kill(getppid(), 0);
}

static int do_tun_ioctl(void)
{
	return ioctl(0, TUNSETIFF, NULL);
}

static int do_setuid(void)
{
	return (int)syscall(SYS_setuid, 0);
}

static void test_allowed_survive(void)
{
	int status = run_filtered(allowed);

	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_forbidden_kill(void)
{
	static int (*const forbidden[])(void) = {
	    do_execve,	    do_fork,	  do_ptrace, do_mount,	       do_open_write,
	    do_kill_parent, do_tun_ioctl, do_setuid, do_packet_socket, do_netlink_other,
	};

	for (size_t i = 0; i < ARRAY_SIZE(forbidden); i++) {
		int status = run_filtered(forbidden[i]);

		CHECK(killed_by_sigsys(status));
		if (!killed_by_sigsys(status))
			fprintf(stderr, "  forbidden call %zu: status %#x\n", i, status);
	}
	CHECK(access("/tmp/porthole-seccomp-test", F_OK) < 0);
}

static void test_wanted(void)
{
	CHECK(sandbox_wanted("1") && sandbox_wanted("on") && sandbox_wanted("yes"));
	CHECK(!sandbox_wanted(NULL) && !sandbox_wanted("") && !sandbox_wanted("0"));
	CHECK(!sandbox_wanted("off") && !sandbox_wanted("no") && !sandbox_wanted("11"));
}

int main(void)
{
	RUN(test_wanted);
	RUN(test_allowed_survive);
	RUN(test_forbidden_kill);
	return check_done("seccomp");
}
