/* The control socket: the daemon's side (a oneshot server on its loop) and the client's. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "oneshot.h"
#include "status.h"
#include "uapi_sock.h"

enum { CONTROL_REPLY_TIMEOUT_S = 5 }; /* the client's wait for a reply */

struct control {
	struct daemon *d;
	struct oneshot *srv;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

int control_path(char *out, size_t cap, const char *name)
{
	size_t len = strlen(name);

	if (!len || len >= IFNAMSIZ || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return -EINVAL;
	if ((size_t)snprintf(out, cap, "%s/%s.sock", CONTROL_DIR, name) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

static bool complete(const char *in, size_t len)
{
	return memchr(in, '\n', len) != NULL;
}

static uint64_t wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static void show(struct daemon *d, FILE *out, bool json)
{
	struct status s;
	int ret = status_collect(&s, d);

	if (ret < 0) {
		fprintf(out, "error: %s\n", strerror(-ret));
		return;
	}
	if (json)
		status_json(&s, out, true);
	else
		status_text(&s, out, wall_seconds());
	status_free(&s);
}

static void reload(struct daemon *d, FILE *out)
{
	char err[512] = "";
	int ret = daemon_reload(d, err, sizeof(err));

	if (!ret)
		fprintf(out, "ok\n");
	else
		fprintf(out, "error: %s\n", err[0] ? err : strerror(-ret));
}

static void serve(void *ctx, const char *in, size_t len, FILE *out)
{
	struct control *c = ctx;
	const char *nl = memchr(in, '\n', len);
	size_t n = nl ? (size_t)(nl - in) : 0;

	if (n && in[n - 1] == '\r')
		n--;
	if (nl && n == 4 && !memcmp(in, "show", 4))
		show(c->d, out, true);
	else if (nl && n == 4 && !memcmp(in, "text", 4))
		show(c->d, out, false);
	else if (nl && n == 6 && !memcmp(in, "reload", 6))
		reload(c->d, out);
	else
		fprintf(out, "error: unknown request\n");
}

int control_open(struct control **out, struct daemon *d)
{
	struct oneshot_config cfg = {
	    .what = "control",
	    .request_max = CONTROL_REQUEST_MAX,
	    .max_conns = CONTROL_MAX_CONNS,
	    .deadline_ns = CONTROL_DEADLINE_MS * NSEC_PER_MSEC,
	    .complete = complete,
	    .serve = serve,
	};
	struct control *c = calloc(1, sizeof(*c));
	int fd = -1, ret;

	if (!c)
		return -ENOMEM;
	c->d = d;
	cfg.ctx = c;
	ret = control_path(c->path, sizeof(c->path), d->name);
	if (!ret && mkdir(CONTROL_DIR, 0755) && errno != EEXIST)
		ret = -errno;
	if (!ret)
		ret = uapi_sock_listen_path(c->path, &fd);
	if (!ret)
		ret = oneshot_open(&c->srv, d->loop, fd, &cfg);
	if (ret) {
		log_errno(LOG_LEVEL_WARN, ret, "%s: no control socket %s", d->name, c->path);
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	oneshot_close(c->srv);
	/* After a privilege drop this fails; the next daemon of the name replaces the socket. */
	unlink(c->path);
	free(c);
}

static int connect_to(const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = CONTROL_REPLY_TIMEOUT_S};
	int fd = -1, ret;

	ret = control_path(sun.sun_path, sizeof(sun.sun_path), name);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int control_request(const char *name, const char *request, FILE *out)
{
	size_t len = strlen(request);
	char buf[4096];
	ssize_t n;
	int fd = connect_to(name), ret = 0;

	if (fd < 0)
		return fd;
	n = send(fd, request, len, MSG_NOSIGNAL);
	if (n != (ssize_t)len) {
		ret = n < 0 ? -errno : -EIO;
		goto out;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		fwrite(buf, 1, (size_t)n, out);
	}
out:
	close(fd);
	return ret;
}
