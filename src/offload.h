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
#include "compat.h"

enum offload_limits {
	OFFLOAD_HDR_LEN = sizeof(struct virtio_net_hdr), /* 10 */
	OFFLOAD_MAX_PACKET = 65535,
	OFFLOAD_MAX_FLOWS = 8, /* flows tracked at once while coalescing one batch */
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

/* One decrypted packet of a batch bound for the TUN. Coalescing appends the payload of later
 * segments to an earlier packet's buffer (cap bytes at data), marks the later ones merged, and
 * fills hdr for every packet that remains. */
struct offload_pkt {
	uint8_t *data;
	size_t len;
	size_t cap;
	/* The buffer holds other packets of the batch after this one (a UDP GRO datagram): it
	 * cannot grow in place, so a head that takes appends first moves to a spare buffer. */
	bool shared;
	struct virtio_net_hdr hdr;
	bool merged;
};

/* Returns the number of packets left to write (those not merged). spares are nspares buffers
 * of OFFLOAD_MAX_PACKET bytes for shared heads; data may then point into one of them. */
unsigned int offload_coalesce(struct offload_pkt *pkts, unsigned int n, uint8_t *const *spares,
			      unsigned int nspares);

/* Internet checksum helpers (RFC 1071), exposed for tests. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t csum_fold(uint32_t sum);

#endif
