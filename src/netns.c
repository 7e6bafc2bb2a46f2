#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "netlink.h"
#include "netns.h"

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", NETNS_RUN_DIR, name);
}

/* Mounts on files in the directory must reach every mount namespace, or a namespace entered
 * from one started before ours would not see them: like ip(8), make the directory a shared
 * mount point, bind-mounting it onto itself first when it is not one yet. */
static int prepare_dir(void)
{
	if (mkdir(NETNS_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	if (!mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL))
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL))
		return -errno;
	return mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) ? -errno : 0;
}

/* In a child, so that the caller stays in its own namespace. */
static int create(const char *path)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		if (unshare(CLONE_NEWNET) ||
		    mount("/proc/self/ns/net", path, "none", MS_BIND, NULL))
			_exit(errno & 0xff);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

static int lo_up(void *arg)
{
	struct nl nl;
	int ret = nl_open(&nl);

	if (ret)
		return ret;
	ret = nl_link_index(&nl, "lo");
	if (ret > 0)
		ret = nl_link_set_up(&nl, ret, true);
	nl_close(&nl);
	return ret;
}

int netns_add(struct netns *ns, const char *name)
{
	char path[sizeof(NETNS_RUN_DIR) + NETNS_NAME_MAX];
	int fd, ret;

	ns->fd = -1;
	ns->name[0] = '\0'; /* set once the file is ours to remove */
	if (!*name || strchr(name, '/') || strlen(name) >= NETNS_NAME_MAX)
		return -EINVAL;
	path_of(path, sizeof(path), name);
	ret = prepare_dir();
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(ns->name, sizeof(ns->name), "%s", name);
	ret = create(path);
	if (ret)
		goto err;
	ns->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns->fd < 0) {
		ret = -errno;
		goto err;
	}
	ret = netns_call(ns, lo_up, NULL);
	if (!ret)
		return 0;
err:
	netns_del(ns);
	return ret;
}

void netns_del(struct netns *ns)
{
	char path[sizeof(NETNS_RUN_DIR) + NETNS_NAME_MAX];

	if (!*ns->name)
		return;
	path_of(path, sizeof(path), ns->name);
	if (ns->fd >= 0)
		close(ns->fd);
	ns->fd = -1;
	umount2(path, MNT_DETACH);
	unlink(path);
	ns->name[0] = '\0';
}

int netns_enter(const struct netns *ns)
{
	return setns(ns->fd, CLONE_NEWNET) ? -errno : 0;
}

int netns_call(const struct netns *ns, int (*fn)(void *arg), void *arg)
{
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int ret;

	if (home < 0)
		return -errno;
	ret = netns_enter(ns);
	if (!ret)
		ret = fn(arg);
	/* Staying in the wrong namespace would silently misdirect everything after. */
	if (setns(home, CLONE_NEWNET)) {
		perror("setns: cannot return to the original network namespace");
		_exit(1);
	}
	close(home);
	return ret;
}

struct socket_args {
	int domain, type, protocol;
};

static int make_socket(void *arg)
{
	const struct socket_args *a = arg;
	int fd = socket(a->domain, a->type, a->protocol);

	return fd < 0 ? -errno : fd;
}

int netns_socket(const struct netns *ns, int domain, int type, int protocol)
{
	struct socket_args a = {domain, type, protocol};

	return netns_call(ns, make_socket, &a);
}
