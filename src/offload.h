/* TCP segmentation and coalescing for a TUN with virtio-net headers (IFF_VNET_HDR), so the
 * kernel can hand us 64 KiB TCP super-packets and take them back, instead of one system call per
 * MTU-sized packet. Pure code over byte buffers:
 *   - offload_split() turns what a TUN read returned (a virtio_net_hdr and a packet, possibly a TSO
 *     super-packet with a partial checksum) into MTU-sized IP packets with complete checksums,
 *     ready to be sealed and sent;
 *   - offload_coalesce() merges consecutive segments of one TCP flow in a batch of decrypted packets
 *     into super-packets, each with the virtio_net_hdr the TUN write needs: a merged one asks for
 *     segmentation and the checksum, every other one says its checksum needs no check (the
 *     packet was authenticated). */
#ifndef PORTHOLE_OFFLOAD_H
#define PORTHOLE_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "compat.h"

enum offload_limits {
	OFFLOAD_HDR_LEN = sizeof(struct virtio_net_hdr), /* 10 */
	OFFLOAD_MAX_PACKET = 65535,
	OFFLOAD_MAX_FLOWS = 8, /* flows tracked at once while coalescing one batch */
	OFFLOAD_MAX_PIECES = 64, /* packets merged into one: the iovecs of its TUN write */
};

/* Splits pkt (len bytes, as read after hdr) into segments of at most mss payload bytes each,
 * written to segs[i] (each seg_cap bytes) with lengths in seg_lens. A packet that needs no
 * segmentation comes out as one segment with its checksum completed. Returns the segment count,
 * -EMSGSIZE when max_segs or seg_cap is too small, or -EPROTO for a packet it cannot segment
 * (not TCP over IPv4/IPv6 without extension headers, or malformed). */
int offload_split(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len, uint8_t **segs,
		  size_t seg_cap, size_t *seg_lens, unsigned int max_segs) WARN_UNUSED;

/* Completes in place the checksum of a packet the kernel left partial (NEEDS_CSUM without GSO):
 * 0, or -EPROTO when the checksum position lies outside the packet. */
int offload_finish_csum(const struct virtio_net_hdr *hdr, uint8_t *pkt, size_t len) WARN_UNUSED;

/* One decrypted packet of a batch bound for the TUN. Coalescing copies nothing: it chains the
 * later segments of a flow to an earlier packet through next, leaves each where it lies with
 * data and len narrowed to its payload, marks them merged, rewrites the head's headers for the
 * whole (total bytes) and fills hdr for every packet that remains. The TUN then takes each
 * remaining packet in one vectored write of its pieces. */
struct offload_pkt {
	uint8_t *data;
	size_t len;
	struct virtio_net_hdr hdr;
	bool merged;
	unsigned int next;	/* index in the batch of the next piece; 0: none */
	size_t total;		/* a head: its length with every piece */
};

/* Returns the number of packets left to write (those not merged). */
unsigned int offload_coalesce(struct offload_pkt *pkts, unsigned int n);

/* The pieces of remaining packet pkts[i], in order, into iov (OFFLOAD_MAX_PIECES at most):
 * returns how many. */
unsigned int offload_pieces(const struct offload_pkt *pkts, unsigned int i, struct iovec *iov);

/* Internet checksum helpers (RFC 1071), exposed for tests. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t csum_fold(uint32_t sum);

#endif
