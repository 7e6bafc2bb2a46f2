/* The WireGuard device as a pure engine: identity, peers, cryptokey routing, session indices and
 * the send and receive paths. It reads no clock (callers pass `now`, monotonic ns, and the ops
 * give wall time) and owns no socket: datagrams leave through ops->send, and the data path works
 * on batches of caller-owned buffers so that nothing is copied or allocated per packet.
 *
 * Threads: every call runs on one thread (the daemon's loop). Only the ChaCha20-Poly1305 of a
 * batch's data messages may run elsewhere: ops->crypt gets the batch's jobs and returns when all
 * are done, so the keypairs they use cannot change meanwhile. */
#ifndef PORTHOLE_DEVICE_H
#define PORTHOLE_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include "allowedips.h"
#include "compat.h"
#include "config.h"
#include "cookie.h"
#include "index.h"
#include "messages.h"
#include "noise.h"
#include "peer.h"
#include "ratelimiter.h"
#include "uapi.h"
#include "udp.h"

/* Room a data buffer needs around its plaintext so it can be sealed in place: the 16-byte
 * header before, padding to 16 and the tag after. */
enum wg_buffer_room {
	WG_HEADROOM = sizeof(struct message_data),
	WG_TAILROOM = MESSAGE_PADDING_MULTIPLE - 1 + NOISE_AUTHTAG_LEN,
	/* What a wg_tx with room has on each side: the AEAD borrows CRYPTO_SEAL_ROOM on both sides
	 * of the padded body, which starts at data (the header is within the room before) and may
	 * end 15 bytes past the packet. */
	WG_TX_ROOM_BEFORE = CRYPTO_SEAL_ROOM,
	WG_TX_ROOM_AFTER = MESSAGE_PADDING_MULTIPLE - 1 + CRYPTO_SEAL_ROOM,
	/* A wg_rx slot: the plaintext opened into it has CRYPTO_SEAL_ROOM before and after it
	 * (chacha20poly1305_open_from_room()), and up to WG_RX_SLOT_MAX bytes, padding included. */
	WG_RX_SLOT_STRIDE = 2048,
	WG_RX_SLOT_MAX = WG_RX_SLOT_STRIDE - 2 * CRYPTO_SEAL_ROOM,
	WG_PEER_BUCKETS = 1024,
	WG_HANDSHAKE_BUDGET = 32, /* handshakes processed per wg_device_process_handshakes() */
	WG_AEAD_BATCH = 256,	  /* data messages sealed or opened per ops->crypt call */
};

struct wg_device_ops {
	/* Sends one datagram at once; buf is reused when this returns. peer is NULL for cookie
	 * replies. The callee may clear ep's source address when the kernel refuses it. */
	void (*send)(void *ctx, struct wg_peer *peer, struct endpoint *ep, const uint8_t *buf,
		     size_t len);
	/* The earliest of peer->timers may have moved: re-arm peer->timer. */
	void (*timers_changed)(void *ctx, struct wg_peer *peer);
	/* A peer appeared or is about to be freed. */
	void (*peer_added)(void *ctx, struct wg_peer *peer);
	void (*peer_removed)(void *ctx, struct wg_peer *peer);
	/* Unix time in ns, for TAI64N timestamps and `latest handshake`. */
	uint64_t (*wall_now)(void *ctx);
	/* Optional: runs noise_aead_run() on every job (in any order, on any threads) and
	 * returns when all are done. Without it the device runs them itself. */
	void (*crypt)(void *ctx, struct noise_aead *const *jobs, unsigned int n);
	void *ctx;
};

/* A handshake message waiting for the handshake worker, with where it came from. */
struct wg_handshake_job {
	uint8_t msg[sizeof(struct message_handshake_initiation)];
	uint32_t len;
	struct endpoint src;
};

struct wg_device {
	struct noise_static_identity identity;
	struct cookie_checker cookie_checker;
	struct index_table index;
	struct allowedips allowedips;
	struct wg_peer *buckets[WG_PEER_BUCKETS];
	struct wg_peer *first, *last;
	size_t npeers;
	uint64_t next_peer_id;

	uint16_t listen_port;
	uint32_t fwmark;
	unsigned int mtu;
	bool up;

	/* Bounded queue of handshake messages whose mac1 verified; past an eighth full the device
	 * is under load and demands cookies, and stays so for a second after. */
	struct wg_handshake_job *jobs;
	unsigned int jobs_head, jobs_count;
	uint64_t last_under_load;
	bool was_under_load;
	struct ratelimiter ratelimiter; /* per source, for messages with a valid mac2 under load */

	/* The batch's data messages waiting for ops->crypt; the receive side's finish in order. */
	struct noise_aead *aead[WG_AEAD_BATCH];
	struct wg_rx *opened[WG_AEAD_BATCH];
	unsigned int naead, nopened;

	uint64_t drops[DROP__MAX]; /* drops that name no peer */
	struct wg_device_ops ops;
	struct noise_lookup lookup;
};

/* One datagram of a receive batch. On return, out_len > 0 means out (inside data, or slot when
 * there is one) holds an IP packet for the TUN; otherwise the device consumed or dropped it. */
struct wg_rx {
	uint8_t *data;
	size_t len;
	struct endpoint src;
	uint8_t *out;
	size_t out_len;
	/* NULL, or a slot (WG_RX_SLOT_MAX bytes with CRYPTO_SEAL_ROOM on either side) that a data
	 * message of up to WG_RX_SLOT_MAX bytes of plaintext is opened into, data left as it is.
	 * Only when CRYPTO_SEAL_ROOM bytes before data + 16 and after data + len can be read and
	 * nothing writes them until the batch is done (they are read, whatever they hold). */
	uint8_t *slot;
	/* the device's, while the batch is decrypted */
	struct noise_aead aead;
	struct noise_keypair *kp;
};

/* One IP packet of a send batch, at data with WG_HEADROOM before and WG_TAILROOM after (with
 * room set: WG_TX_ROOM_BEFORE and WG_TX_ROOM_AFTER, sealed in place without a copy). On return,
 * out_len > 0 means out (data - WG_HEADROOM) holds the sealed datagram for ep; otherwise the
 * packet was dropped or staged (copied) for later. */
struct wg_tx {
	uint8_t *data;
	size_t len;
	bool room;
	uint8_t *out;
	size_t out_len;
	struct wg_peer *peer;
	struct noise_aead aead; /* the device's, while the batch is sealed */
};

int wg_device_init(struct wg_device *dev, const struct wg_device_ops *ops, uint64_t now)
	WARN_UNUSED;
void wg_device_free(struct wg_device *dev);
/* Interface up: timers run and staged packets may go. Down: sessions are dropped. */
void wg_device_set_up(struct wg_device *dev, bool up, uint64_t now);

/* Applies a configuration change (the configuration protocol's set, or a file): 0 or -errno,
 * with everything before the failing item applied, as wireguard-go does. */
int wg_device_apply(struct wg_device *dev, const struct interface_config *change, uint64_t now)
	WARN_UNUSED;
/* Fills a view for the configuration protocol's get; wg_device_view_free() releases it. */
int wg_device_view(struct wg_device *dev, struct uapi_device_view *view) WARN_UNUSED;
void wg_device_view_free(struct uapi_device_view *view);

/* The data path. */
void wg_device_send_batch(struct wg_device *dev, struct wg_tx *pkts, unsigned int n, uint64_t now);
void wg_device_receive_batch(struct wg_device *dev, struct wg_rx *pkts, unsigned int n,
			     uint64_t now);
/* Seals or opens the data messages the batch has queued (the send and receive paths). */
void wg_device_crypt(struct wg_device *dev);
/* Works through up to WG_HANDSHAKE_BUDGET queued handshake messages; returns how many remain. */
unsigned int wg_device_process_handshakes(struct wg_device *dev, uint64_t now);

/* The send side of a peer, also used by timers and configuration. */
void wg_send_handshake_initiation(struct wg_peer *peer, uint64_t now, bool is_retry);
void wg_send_handshake_response(struct wg_peer *peer, uint64_t now);
void wg_send_keepalive(struct wg_peer *peer, uint64_t now);
void wg_send_staged(struct wg_peer *peer, uint64_t now);

#endif
