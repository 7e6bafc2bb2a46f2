#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include "tun.h"

static const char tun_path[] = "/dev/net/tun";

static_assert(TUN_VNET_HDR_LEN == sizeof(struct virtio_net_hdr), "virtio_net_hdr size");

static int to_ifflags(unsigned int flags, short *out)
{
	if (flags & ~(unsigned int)(TUN_VNET_HDR | TUN_MULTI_QUEUE))
		return -EINVAL;
	*out = IFF_TUN | IFF_NO_PI;
	if (flags & TUN_VNET_HDR)
		*out |= IFF_VNET_HDR;
	if (flags & TUN_MULTI_QUEUE)
		*out |= IFF_MULTI_QUEUE;
	return 0;
}

/* Opens the clone device and binds it to name; ifr returns the name the kernel settled on. */
static int attach(struct ifreq *ifr, unsigned int flags, int *fd_out)
{
	int fd, ret;

	ret = to_ifflags(flags, &ifr->ifr_flags);
	if (ret)
		return ret;
	fd = open(tun_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, ifr) < 0) {
		ret = -errno;
		goto err;
	}
	*fd_out = fd;
	return 0;
err:
	close(fd);
	return ret;
}

static int set_name(struct ifreq *ifr, const char *name)
{
	size_t len = strnlen(name, IFNAMSIZ);

	if (len == IFNAMSIZ)
		return -ENAMETOOLONG;
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, name, len);
	return 0;
}

int tun_open(char name[IFNAMSIZ], unsigned int flags, int *fd_out)
{
	struct ifreq ifr;
	int ret;

	ret = set_name(&ifr, name);
	if (!ret)
		ret = attach(&ifr, flags, fd_out);
	if (!ret)
		memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return ret;
}

int tun_open_queue(const char *name, unsigned int flags, int *fd_out)
{
	struct ifreq ifr;
	int ret;

	/* An empty name would quietly create a second device instead. */
	if (!name[0])
		return -EINVAL;
	ret = set_name(&ifr, name);
	if (ret)
		return ret;
	return attach(&ifr, flags | TUN_MULTI_QUEUE, fd_out);
}

/* Offloads let the kernel hand us unsegmented packets, which only the virtio header describes;
 * without it a reader would take 64 KiB of TCP for one packet. */
static bool has_vnet_hdr(int fd)
{
	struct ifreq ifr = {0};

	return ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR);
}

int tun_set_offload(int fd, unsigned int offloads)
{
	int hdrlen = TUN_VNET_HDR_LEN;

	if (offloads && !has_vnet_hdr(fd))
		return fcntl(fd, F_GETFD) < 0 ? -errno : -EINVAL;
	if (offloads && ioctl(fd, TUNSETVNETHDRSZ, &hdrlen) < 0)
		return -errno;
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
		return -errno;
	return 0;
}

/* Asks the driver for its name, which tells a TUN device from everything else. */
bool tun_exists(const char *name)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr;
	bool ret = false;
	int sock;

	if (set_name(&ifr, name) || !name[0])
		return false;
	ifr.ifr_data = (void *)&info;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return false;
	if (ioctl(sock, SIOCETHTOOL, &ifr) == 0)
		ret = strcmp(info.driver, "tun") == 0;
	close(sock);
	return ret;
}
