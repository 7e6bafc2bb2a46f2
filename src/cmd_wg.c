/* porthole-wg IFNAME: a drop-in for wireguard-go, so that
 * WG_QUICK_USERSPACE_IMPLEMENTATION=porthole-wg wg-quick up X works where the kernel has no
 * WireGuard. It creates the TUN, serves the configuration socket and, unless told to stay in the
 * foreground, detaches once both exist, as wireguard-go does. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "log.h"
#include "sandbox.h"
#include "secmem.h"
#include "subcommands.h"
#include "tunnel.h"

static void usage(void)
{
	fprintf(stderr, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", prog_name);
}

/* The parent returns only after the child reported that the interface and socket exist. */
static int detach(void)
{
	int fds[2];
	char status = 1;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

static void report(int fd, char status)
{
	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* The parent is gone; nothing to tell. */
	}
	close(fd);
}

static void quiet_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (!getenv("LOG_LEVEL"))
		dup2(fd, STDERR_FILENO);
	close(fd);
}

int wg_go_main(int argc, char *argv[])
{
	bool foreground = getenv("WG_PROCESS_FOREGROUND") &&
			  !strcmp(getenv("WG_PROCESS_FOREGROUND"), "1");
	struct tunnel *t;
	const char *ifname;
	int ready = -1, ret;

	if (argc == 3 && (!strcmp(argv[1], "-f") || !strcmp(argv[1], "--foreground")))
		foreground = true, ifname = argv[2];
	else if (argc == 2 && argv[1][0] != '-')
		ifname = argv[1];
	else {
		usage();
		return 1;
	}
	if (strlen(ifname) >= IFNAMSIZ) {
		fprintf(stderr, "%s: interface name '%s' is too long\n", prog_name, ifname);
		return 1;
	}
	if (!foreground) {
		ready = detach();
		if (ready < 0) {
			log_errno(LOG_LEVEL_ERR, ready, "cannot detach");
			return 1;
		}
	}
	if (secmem_protect_process() < 0)
		log_warn("%s: cannot disable core dumps", ifname);
	t = secmem_calloc(1, sizeof(*t)); /* the device: our private key */
	if (!t)
		return 1;
	ret = tunnel_open(t, ifname, true);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the interface", ifname);
		report(ready, 1);
		tunnel_close(t);
		secmem_free(t);
		return 1;
	}
	/* wireguard-go's default, which wg-quick and users expect when they set none. */
	ret = nl_link_set_mtu(&t->nl, t->ifindex, WG_GO_DEFAULT_MTU);
	if (ret < 0)
		log_errno(LOG_LEVEL_WARN, ret, "%s: cannot set the MTU", ifname);
	log_info("%s: porthole-wg running, configuration socket %s/%s.sock", ifname,
		 "/var/run/wireguard", ifname);
	report(ready, 0);
	if (!foreground)
		quiet_stdio();
	if (tunnel_start_workers(t) < 0)
		log_warn("%s: no crypto workers; the loop thread seals and opens alone", ifname);
	ret = sandbox_install_if_wanted(ifname) < 0 ? 1 : tunnel_run(t);
	tunnel_close(t);
	secmem_free(t);
	return ret;
}
