/* TUN devices: the tunnel's side of the kernel. Always layer 3 (IFF_TUN) without the packet-info
 * prefix (IFF_NO_PI), so a read returns one IP packet, or with TUN_VNET_HDR a virtio_net_hdr then
 * one (possibly segmentation-offloaded) IP packet. Descriptors are non-blocking and close-on-exec.
 * Configuring the device (MTU, addresses, up) is netlink's job, not this file's. */
#ifndef PORTHOLE_TUN_H
#define PORTHOLE_TUN_H

#include <stdbool.h>
#include <net/if.h>
#include <linux/if_tun.h> /* TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 ... for tun_set_offload() */
#include "compat.h"

enum tun_flags {
	TUN_VNET_HDR = 1 << 0,	  /* IFF_VNET_HDR: packets carry a virtio_net_hdr */
	TUN_MULTI_QUEUE = 1 << 1, /* IFF_MULTI_QUEUE: one descriptor per queue */
};

enum { TUN_VNET_HDR_LEN = 10 }; /* sizeof(struct virtio_net_hdr), which is all we ask for */

/* Creates (or attaches to) the TUN device called name; "" or a pattern such as "pt%d" lets the
 * kernel choose, and name returns the name it chose. 0 or -errno. */
int tun_open(char name[IFNAMSIZ], unsigned int flags, int *fd_out) WARN_UNUSED;
/* Another queue of the multi-queue device name, opened with the same flags. */
int tun_open_queue(const char *name, unsigned int flags, int *fd_out) WARN_UNUSED;
/* Enables offloads (TUN_F_*) on a TUN_VNET_HDR descriptor and sets its header length to
 * TUN_VNET_HDR_LEN. -EINVAL without TUN_VNET_HDR or for offloads the kernel does not know; any
 * error means the caller should carry on without offloads. */
int tun_set_offload(int fd, unsigned int offloads);
/* true when name is an existing TUN device in this network namespace. */
bool tun_exists(const char *name) WARN_UNUSED;

#endif
