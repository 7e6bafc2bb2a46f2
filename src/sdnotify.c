/* sd_notify(3)'s wire protocol: unix datagrams of "KEY=VALUE" lines, no reply. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "sdnotify.h"

int sdnotify_address(const char *value, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n = value ? strlen(value) : 0;

	if (n && !strncmp(value, "vsock:", 6))
		return -EAFNOSUPPORT;
	if (n < 2 || (value[0] != '/' && value[0] != '@') || n >= sizeof(sun->sun_path))
		return -EINVAL;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, value, n);
	/* Abstract names are not NUL-terminated: the length says where they end. */
	if (value[0] == '@') {
		sun->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)sizeof(*sun);
	}
	return 0;
}

static bool number(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end;
}

uint64_t sdnotify_watchdog_period(const char *usec, const char *pid, pid_t self)
{
	unsigned long long us, p;

	if (!number(usec, &us) || !us || us > UINT64_MAX / 1000)
		return 0;
	/* WATCHDOG_PID names the process the watchdog is for; a child must not answer it. */
	if (pid && (!number(pid, &p) || p != (unsigned long long)self))
		return 0;
	return us * 1000 / 2;
}

int sdnotify_send(const char *state)
{
	const char *value = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	ssize_t n;
	int fd, ret;

	if (!value)
		return 0;
	ret = sdnotify_address(value, &sun, &len);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	ret = n < 0 ? -errno : 0;
	close(fd);
	return ret;
}

static void nothing(void *arg)
{
}

static void tick(struct loop_timer *timer)
{
	struct sdnotify *sd = container_of(timer, struct sdnotify, watchdog);
	int ret;

	if (sd->also)
		loop_call(sd->also, nothing, NULL); /* returns once that thread's loop turns */
	ret = sdnotify_send("WATCHDOG=1");

	if (ret < 0)
		log_limited(LOG_LEVEL_WARN, "systemd watchdog: cannot notify: %s", strerror(-ret));
	loop_timer_arm(sd->loop, &sd->watchdog, loop_now() + sd->interval_ns);
}

int sdnotify_watchdog_start(struct sdnotify *sd, struct loop *loop, struct loop *also)
{
	int ret;

	sd->interval_ns = 0;
	if (getenv("NOTIFY_SOCKET"))
		sd->interval_ns = sdnotify_watchdog_period(getenv("WATCHDOG_USEC"),
							   getenv("WATCHDOG_PID"), getpid());
	if (!sd->interval_ns)
		return 0;
	ret = loop_timer_add(loop, &sd->watchdog, tick);
	if (ret < 0)
		return ret;
	sd->loop = loop;
	sd->also = also != loop ? also : NULL;
	tick(&sd->watchdog);
	return 0;
}

void sdnotify_watchdog_stop(struct sdnotify *sd)
{
	if (!sd->loop)
		return;
	loop_timer_remove(sd->loop, &sd->watchdog);
	sd->loop = NULL;
}
