/* WireGuard's UDP sockets: one IPv4 and one IPv6 socket on the same port, batched receive and
 * send (recvmmsg/sendmmsg), and "sticky" source addresses: every received datagram records the
 * local address it was sent to, and replies leave from that address (IP_PKTINFO/IPV6_PKTINFO), as
 * the kernel module and wireguard-go do, so multi-homed hosts answer from the address the peer
 * knows. */
#ifndef PORTHOLE_UDP_H
#define PORTHOLE_UDP_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "compat.h"

enum udp_limits {
	UDP_BATCH_MAX = 64,	/* datagrams per recvmmsg, messages per sendmmsg */
	UDP_SEND_MAX = 256,	/* datagrams per send batch: more than one sendmmsg's messages
				 * can carry, so that UDP_SEGMENT runs are not cut at 64 */
	UDP_SOCK_BUF = 4 << 20, /* socket buffer bytes asked for */
	UDP_BIND_RETRIES = 100, /* port-0 attempts to find a port free in both families */
	UDP_PKT_ROOM = 64,	/* bytes around each receive buffer that nothing writes */
	UDP_CMSG_LEN = 64,	/* room for a pktinfo and a UDP_SEGMENT/UDP_GRO value */
	UDP_GSO_MAX_SEGS = 64,	/* the kernel's UDP_MAX_SEGMENTS */
	ENDPOINT_STRLEN = INET6_ADDRSTRLEN + 20, /* "[addr%scope]:port" */
};

/* A peer's address and the local address (and interface) it last reached us on. The source is
 * kept in the family of addr; all-zero means "let routing choose". */
struct endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	int src_ifindex;
};

/* Same peer address, port and scope, and the same source: a difference in either is a roam. */
bool endpoint_eq(const struct endpoint *a, const struct endpoint *b) WARN_UNUSED;
/* "1.2.3.4:51820", "[2001:db8::1]:51820", "[fe80::1%2]:51820"; buf holds ENDPOINT_STRLEN. */
const char *endpoint_to_string(const struct endpoint *ep, char *buf, size_t len);
/* Forgets the source, e.g. after the local address went away. */
void endpoint_clear_src(struct endpoint *ep);
bool endpoint_has_src(const struct endpoint *ep) WARN_UNUSED;
/* Copies addr (IPv4, IPv6; v4-mapped IPv6 becomes IPv4) with no source; -EAFNOSUPPORT otherwise. */
int endpoint_set(struct endpoint *ep, const struct sockaddr *addr, socklen_t len);

/* fd4 or fd6 is -1 when that family is unavailable on the host. gso: send equal-sized runs to one
 * endpoint as a single UDP_SEGMENT super-datagram (off after udp_open; see udp_set_gso()). */
struct udp_socks {
	int fd4, fd6;
	uint16_t port;
	bool gso;
	bool gro;
};

/* Binds both families to port (0: the kernel picks one, and both get the same). Sockets are
 * non-blocking and close-on-exec, with pktinfo on, large buffers, and SO_MARK when fwmark != 0.
 * Succeeds when at least one family is available. */
int udp_open(struct udp_socks *s, uint16_t port, uint32_t fwmark) WARN_UNUSED;
void udp_close(struct udp_socks *s);
int udp_set_fwmark(struct udp_socks *s, uint32_t fwmark) WARN_UNUSED;
/* Moves to a new port, keeping the old sockets when that fails. The fd numbers change: the caller
 * re-registers them with its event loop. Rebinding to the current non-zero port does nothing. */
int udp_rebind(struct udp_socks *s, uint16_t port, uint32_t fwmark) WARN_UNUSED;
/* Turns UDP_SEGMENT sends on (-EOPNOTSUPP if the kernel lacks it) or off. Sends turn it off by
 * themselves if the route cannot segment. */
int udp_set_gso(struct udp_socks *s, bool on) WARN_UNUSED;
/* Lets the kernel hand over runs of datagrams from one sender as one super-datagram (UDP_GRO),
 * marked with its segment size in udp_pkt.gso_size; -EOPNOTSUPP where the kernel lacks it. */
int udp_set_gro(struct udp_socks *s, bool on) WARN_UNUSED;

/* For receive, data/cap are the batch's own buffers; for send, the caller may point data at its
 * own buffer and sets len and ep. */
struct udp_pkt {
	uint8_t *data;
	uint32_t len;
	uint32_t cap;
	struct endpoint ep;
	/* Received with UDP_GRO: data holds datagrams of gso_size bytes each (the last may be
	 * shorter), all from ep. 0: one datagram. */
	uint16_t gso_size;
};

/* The arrays are sized once at init; receiving and sending allocate nothing. */
struct udp_batch {
	unsigned int count, cap;
	uint8_t *buf;
	struct udp_pkt pkts[UDP_SEND_MAX]; /* a receive uses the first cap */
	struct mmsghdr msgs[UDP_BATCH_MAX];
	struct iovec iovs[UDP_SEND_MAX];
	union {
		struct cmsghdr align;
		uint8_t buf[UDP_CMSG_LEN];
	} cmsgs[UDP_BATCH_MAX];
};

/* cap datagrams (at most UDP_BATCH_MAX) of up to pkt_cap bytes each, every buffer with
 * UDP_PKT_ROOM bytes before and after it that a receive leaves alone (so that a datagram can be
 * opened out of place, see wg_rx.slot). */
int udp_batch_init(struct udp_batch *b, unsigned int cap, uint32_t pkt_cap) WARN_UNUSED;
void udp_batch_free(struct udp_batch *b);

/* Reads up to b->cap datagrams without blocking: returns the count (also in b->count) or -EAGAIN
 * when none are waiting, or another negative errno. Each endpoint carries the sender's address and
 * the local address the datagram was sent to. A datagram longer than its buffer arrives with len 0.
 */
int udp_recv_batch(int fd, struct udp_batch *b) WARN_UNUSED;
/* Sends b->pkts[0..count) (count at most UDP_SEND_MAX, in as few sendmmsg calls of at most
 * UDP_BATCH_MAX messages as the runs allow), each from its endpoint's source address. A source the
 * kernel refuses (address gone: EINVAL/EADDRNOTAVAIL/ENETUNREACH) is cleared in that packet's
 * endpoint, and the packet is sent without it; callers copy the cleared endpoint back to the peer.
 * Returns how many were sent; the rest were dropped (full socket buffer, unreachable, no socket for
 * the family) and are the caller's to count. */
int udp_send_batch(struct udp_socks *s, struct udp_batch *b);
/* One datagram, same source handling; 0 or a negative errno (-EAGAIN when the buffer is full). */
int udp_send_one(struct udp_socks *s, struct endpoint *ep, const uint8_t *data, uint32_t len);

#endif
