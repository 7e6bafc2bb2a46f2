/* The tunnel daemon: one WireGuard device on a TUN interface, its UDP sockets, the
 * configuration socket that `wg` talks to, and the netlink watch that ends it when the
 * interface is deleted. Everything runs on one event loop thread. */
#ifndef PORTHOLE_TUNNEL_H
#define PORTHOLE_TUNNEL_H

#include <net/if.h>
#include <stdbool.h>
#include "compat.h"
#include "config.h"
#include "crypt_pool.h"
#include "device.h"
#include "loop.h"
#include "netlink.h"
#include "offload.h"
#include "recover.h"
#include "udp.h"

enum tunnel_limits {
	TUNNEL_BATCH = UDP_BATCH_MAX,  /* datagrams per UDP receive round, TUN reads per send round */
	TUNNEL_PKT_MAX = 65535,        /* largest IP packet a TUN read returns */
	TUNNEL_SLOTS = 256,            /* packet buffers of a send round: reads and their segments */
	TUNNEL_MAX_SEGS = 128,         /* segments of one TSO super-packet (MSS >= 536) */
	TUNNEL_ROUNDS = 4,             /* batches per readiness event, so fds take turns */
	TUNNEL_RX = 256,               /* datagrams decrypted together, GRO segments included */
};

struct tunnel_uapi_conn;

struct tunnel {
	char ifname[IFNAMSIZ];
	int ifindex;
	struct loop loop;
	struct wg_device dev;
	struct udp_socks udp;
	struct nl nl;

	struct loop_fd tun, udp4, udp6, uapi, monitor;
	struct loop_timer handshakes; /* more queued handshake work */
	struct recover recover;       /* reacting to network and endpoint changes at once */

	bool vnet; /* TUN packets carry a virtio_net_hdr: TSO in, coalesced writes out */
	struct crypt_pool pool; /* sealing and opening a batch's data messages */
	uint8_t *slots; /* TUNNEL_SLOTS buffers with room to seal in place */
	uint8_t *rx_slots; /* TUNNEL_RX buffers to open into (wg_rx.slot) */
	struct wg_tx tx[TUNNEL_SLOTS];
	struct wg_rx rx[TUNNEL_RX];
	struct offload_pkt out[TUNNEL_RX];
	struct udp_batch udp_in, udp_out;

	/* Peers to send an initiation once the interface is up (tunnel_greet()). */
	uint8_t (*greet)[NOISE_PUBLIC_KEY_LEN];
	size_t ngreet;

	bool own_link;     /* created by us: deleting it is ours to do on exit */
	bool uapi_listening;
	int exit_status;
	uint64_t tun_write_errors;
};

/* Creates the TUN ifname, opens UDP (port 0 until configured) and, with serve_uapi, the
 * configuration socket: 0 or -errno. */
int tunnel_open(struct tunnel *t, const char *ifname, bool serve_uapi) WARN_UNUSED;
/* Applies a configuration (a file's [Interface] and [Peer]s, host names resolved by the caller). */
int tunnel_configure(struct tunnel *t, const struct interface_config *cfg) WARN_UNUSED;
/* For a peer that cannot know we are here, one whose endpoint came from the state file: a
 * handshake starts now, or as soon as the interface is up (a keepalive, as recovery's kick sends,
 * which the session carries once it exists). 0 or -ENOMEM. */
int tunnel_greet(struct tunnel *t, struct wg_peer *peer) WARN_UNUSED;
/* The crypto workers, once privileges are dropped (threads keep the credentials they are
 * started with): 0, or -errno with the data path still working on the loop thread alone. */
int tunnel_start_workers(struct tunnel *t) WARN_UNUSED;
/* Runs until SIGTERM/SIGINT or the interface disappears; returns the exit status. */
int tunnel_run(struct tunnel *t);
void tunnel_close(struct tunnel *t);

#endif
