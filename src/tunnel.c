/* The tunnel daemon's event handlers: TUN -> device -> UDP, UDP -> device -> TUN, the
 * configuration socket and the interface watch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "tun.h"
#include "tunnel.h"
#include "uapi_sock.h"

struct tunnel_uapi_conn {
	struct loop_fd lfd;
	struct uapi_conn *conn;
	struct tunnel *t;
};

/* A slot: the room a wg_tx needs to be sealed in place (the virtio header of a read and the
 * WireGuard header land in the room before), then up to TUNNEL_PKT_MAX bytes of packet. */
enum { SLOT_STRIDE = (WG_TX_ROOM_BEFORE + TUNNEL_PKT_MAX + WG_TX_ROOM_AFTER + 63) & ~63 };
static_assert(WG_TX_ROOM_BEFORE >= WG_HEADROOM && WG_TX_ROOM_AFTER >= WG_TAILROOM &&
		      (int)WG_TX_ROOM_BEFORE >= (int)OFFLOAD_HDR_LEN,
	      "a slot's room holds the headers");

/* Device ops: the device's only ways out. */

static void op_send(void *ctx, struct wg_peer *peer, struct endpoint *ep, const uint8_t *buf,
		    size_t len)
{
	struct tunnel *t = ctx;
	int ret = udp_send_one(&t->udp, ep, buf, (uint32_t)len);

	if (ret < 0 && peer)
		peer_drop(peer, DROP_QUEUE_FULL);
}

static void op_timers_changed(void *ctx, struct wg_peer *peer)
{
	struct tunnel *t = ctx;
	uint64_t deadline = timers_next_deadline(&peer->timers);

	if (deadline)
		loop_timer_arm(&t->loop, &peer->timer, deadline);
	else
		loop_timer_disarm(&t->loop, &peer->timer);
}

static void peer_timer_fired(struct loop_timer *timer)
{
	struct wg_peer *peer = container_of(timer, struct wg_peer, timer);
	struct tunnel *t = container_of(peer->device, struct tunnel, dev);

	recover_peer_timer(&t->recover, peer, loop_now());
	peer_timers_expire(peer, loop_now());
}

static void op_peer_added(void *ctx, struct wg_peer *peer)
{
	struct tunnel *t = ctx;

	if (loop_timer_add(&t->loop, &peer->timer, peer_timer_fired) < 0)
		fatal("out of memory adding a peer timer");
}

static void op_peer_removed(void *ctx, struct wg_peer *peer)
{
	struct tunnel *t = ctx;

	loop_timer_remove(&t->loop, &peer->timer);
}

static void op_crypt(void *ctx, struct noise_aead *const *jobs, unsigned int n)
{
	crypt_pool_run(&((struct tunnel *)ctx)->pool, jobs, n);
}

static uint64_t op_wall_now(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The data path. */

static uint8_t *slot(struct tunnel *t, unsigned int i)
{
	return t->slots + (size_t)i * SLOT_STRIDE + WG_TX_ROOM_BEFORE;
}

/* Sends the sealed packets of tx[0..n) in sendmmsg batches; a source address the kernel refused
 * is forgotten in the peer too. */
static void send_sealed(struct tunnel *t, unsigned int n)
{
	struct udp_batch *b = &t->udp_out;
	struct wg_tx *map[UDP_SEND_MAX];
	unsigned int i = 0;

	while (i < n) {
		for (b->count = 0; i < n && b->count < UDP_SEND_MAX; i++) {
			struct udp_pkt *p;

			if (!t->tx[i].out_len)
				continue;
			map[b->count] = &t->tx[i];
			p = &b->pkts[b->count++];
			p->data = t->tx[i].out;
			p->len = (uint32_t)t->tx[i].out_len;
			p->ep = t->tx[i].peer->endpoint;
		}
		if (!b->count)
			return;
		udp_send_batch(&t->udp, b);
		for (unsigned int k = 0; k < b->count; k++) {
			struct wg_peer *peer = map[k]->peer;

			if (!endpoint_has_src(&b->pkts[k].ep) && peer->has_endpoint)
				endpoint_clear_src(&peer->endpoint);
		}
	}
}

/* Turns one TUN read at slot *s into tx entries from tx[n]: the packet itself, or the segments
 * of a TSO super-packet, written to the slots after it. Returns the entries added. */
static unsigned int take_read(struct tunnel *t, unsigned int *s, unsigned int n, size_t len)
{
	uint8_t *pkt = slot(t, *s);
	const struct virtio_net_hdr *h = (const void *)(pkt - OFFLOAD_HDR_LEN);
	uint8_t *segs[TUNNEL_MAX_SEGS];
	size_t lens[TUNNEL_MAX_SEGS];
	int m;

	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (offload_finish_csum(h, pkt, len) < 0) {
			t->dev.drops[DROP_BAD_PACKET]++;
			return 0;
		}
		t->tx[n] = (struct wg_tx){ .data = pkt, .len = len, .room = true };
		*s += 1;
		return 1;
	}
	for (m = 0; m < TUNNEL_MAX_SEGS; m++)
		segs[m] = slot(t, *s + 1 + (unsigned int)m);
	m = offload_split(h, pkt, len, segs, TUNNEL_PKT_MAX, lens, TUNNEL_MAX_SEGS);
	if (m <= 0) {
		t->dev.drops[DROP_BAD_PACKET]++;
		return 0;
	}
	for (int i = 0; i < m; i++)
		t->tx[n + (unsigned int)i] =
			(struct wg_tx){ .data = segs[i], .len = lens[i], .room = true };
	*s += 1 + (unsigned int)m;
	return (unsigned int)m;
}

/* Reads until TUNNEL_BATCH reads are done or the slots could not hold another super-packet;
 * *drained: a read found the queue empty. */
static unsigned int read_tun(struct tunnel *t, bool *drained)
{
	size_t hl = t->vnet ? OFFLOAD_HDR_LEN : 0;
	unsigned int n = 0, s = 0;

	*drained = false;
	for (int reads = 0; reads < TUNNEL_BATCH && s + 1 + TUNNEL_MAX_SEGS <= TUNNEL_SLOTS;
	     reads++) {
		ssize_t r = read(t->tun.fd, slot(t, s) - hl, TUNNEL_PKT_MAX + hl);

		if (r <= (ssize_t)hl) {
			*drained = true;
			break;
		}
		if (!t->vnet) {
			t->tx[n++] = (struct wg_tx){ .data = slot(t, s++), .len = (size_t)r,
						     .room = true };
			continue;
		}
		n += take_read(t, &s, n, (size_t)r - hl);
	}
	return n;
}

static void tun_readable(struct loop_fd *lfd, uint32_t events)
{
	struct tunnel *t = container_of(lfd, struct tunnel, tun);

	bool drained = false;

	/* The TUN is level-triggered: a round that left packets behind is followed by another,
	 * and one that emptied the queue ends the wakeup without a read to hear EAGAIN again. */
	for (int round = 0; round < TUNNEL_ROUNDS && !drained; round++) {
		unsigned int n = read_tun(t, &drained);

		if (!n)
			return;
		wg_device_send_batch(&t->dev, t->tx, n, loop_now());
		send_sealed(t, n);
	}
}

/* Decrypted packets go to the TUN; with virtio headers, consecutive TCP segments of a flow are
 * merged first so that one write carries up to 64 KiB, gathered from where each segment was
 * decrypted. The virtio header goes into the room the WireGuard data header used. */
static void write_tun(struct tunnel *t, unsigned int n)
{
	struct iovec iov[OFFLOAD_MAX_PIECES];
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (t->rx[i].out_len)
			t->out[k++] = (struct offload_pkt){ .data = t->rx[i].out, .len = t->rx[i].out_len };
	}
	if (t->vnet)
		offload_coalesce(t->out, k);
	for (unsigned int i = 0; i < k; i++) {
		struct offload_pkt *p = &t->out[i];
		unsigned int m;

		if (p->merged)
			continue;
		m = offload_pieces(t->out, i, iov);
		if (t->vnet) {
			p->data -= OFFLOAD_HDR_LEN;
			memcpy(p->data, &p->hdr, OFFLOAD_HDR_LEN);
			iov[0] = (struct iovec){ p->data, iov[0].iov_len + OFFLOAD_HDR_LEN };
		}
		if (writev(t->tun.fd, iov, (int)m) < 0)
			t->tun_write_errors++;
	}
}

static void handshakes_due(struct loop_timer *timer)
{
	struct tunnel *t = container_of(timer, struct tunnel, handshakes);

	/* Whatever is left waits for the next turn of the loop, behind data. */
	if (wg_device_process_handshakes(&t->dev, loop_now()))
		loop_timer_arm(&t->loop, &t->handshakes, loop_now());
}

static uint8_t *rx_slot(struct tunnel *t, unsigned int i)
{
	return t->rx_slots + (size_t)i * WG_RX_SLOT_STRIDE + CRYPTO_SEAL_ROOM;
}

static void process_rx(struct tunnel *t, unsigned int n)
{
	wg_device_receive_batch(&t->dev, t->rx, n, loop_now());
	write_tun(t, n);
}

/* Queues a received datagram for decryption, cutting a UDP GRO one into its datagrams; returns
 * the rx count, having processed a full array. They are opened into the receive slots and the
 * datagram left as it is, which lets each read the bytes around it (udp_batch_init() leaves
 * room around each buffer). That holds only if none of them decrypts in place, so a datagram
 * whose segments are too large for a slot opens all of them in place. */
static unsigned int take_datagram(struct tunnel *t, const struct udp_pkt *p, unsigned int n)
{
	size_t seg = p->gso_size && p->len > p->gso_size ? p->gso_size : p->len;
	bool slots = seg <= WG_RX_SLOT_MAX + MESSAGE_MINIMUM_LENGTH;
	size_t off = 0;

	do {
		if (n == TUNNEL_RX) {
			process_rx(t, n);
			n = 0;
		}
		t->rx[n] = (struct wg_rx){
			.data = p->data + off, .len = MIN(seg, p->len - off), .src = p->ep,
			.slot = slots ? rx_slot(t, n) : NULL
		};
		n++;
		off += seg;
	} while (off < p->len);
	return n;
}

static void udp_readable(struct tunnel *t, int fd)
{
	for (int round = 0; round < TUNNEL_ROUNDS; round++) {
		int got = udp_recv_batch(fd, &t->udp_in);
		unsigned int n = 0;

		if (got <= 0)
			break;
		for (int i = 0; i < got; i++)
			n = take_datagram(t, &t->udp_in.pkts[i], n);
		if (n)
			process_rx(t, n);
		if (got < (int)t->udp_in.cap)
			break;
	}
	if (t->dev.jobs_count && !loop_timer_pending(&t->handshakes))
		loop_timer_arm(&t->loop, &t->handshakes, loop_now());
}

static void udp4_readable(struct loop_fd *lfd, uint32_t events)
{
	udp_readable(container_of(lfd, struct tunnel, udp4), lfd->fd);
}

static void udp6_readable(struct loop_fd *lfd, uint32_t events)
{
	udp_readable(container_of(lfd, struct tunnel, udp6), lfd->fd);
}

/* UDP sockets: (re)registered whenever the port changes. */

static int watch_udp(struct tunnel *t)
{
	int ret = 0;

	t->udp4.fd = t->udp.fd4;
	t->udp4.cb = udp4_readable;
	t->udp6.fd = t->udp.fd6;
	t->udp6.cb = udp6_readable;
	if (t->udp4.fd >= 0)
		ret = loop_add(&t->loop, &t->udp4, EPOLLIN);
	if (!ret && t->udp6.fd >= 0)
		ret = loop_add(&t->loop, &t->udp6, EPOLLIN);
	t->dev.listen_port = t->udp.port;
	return ret;
}

static void unwatch_udp(struct tunnel *t)
{
	if (t->udp4.fd >= 0)
		loop_del(&t->loop, &t->udp4);
	if (t->udp6.fd >= 0)
		loop_del(&t->loop, &t->udp6);
}

static int sync_sockets(struct tunnel *t, uint16_t old_port, uint32_t old_fwmark)
{
	int ret;

	if (t->dev.fwmark != old_fwmark) {
		ret = udp_set_fwmark(&t->udp, t->dev.fwmark);
		if (ret < 0)
			return ret;
	}
	if (t->dev.listen_port == old_port)
		return 0;
	unwatch_udp(t);
	ret = udp_rebind(&t->udp, t->dev.listen_port, t->dev.fwmark);
	if (ret < 0)
		log_errno(LOG_LEVEL_WARN, ret, "%s: cannot listen on port %u", t->ifname,
			  t->dev.listen_port);
	return watch_udp(t) ?: ret;
}

int tunnel_configure(struct tunnel *t, const struct interface_config *cfg)
{
	uint16_t old_port = t->udp.port;
	uint32_t old_fwmark = t->dev.fwmark;
	int ret = wg_device_apply(&t->dev, cfg, loop_now());
	int ret2 = sync_sockets(t, old_port, old_fwmark);

	recover_configured(&t->recover, cfg);
	return ret ?: ret2;
}

/* The configuration socket. */

static int uapi_get(void *ctx, struct uapi_device_view *view)
{
	return wg_device_view(&((struct tunnel *)ctx)->dev, view);
}

static void uapi_view_free(void *ctx, struct uapi_device_view *view)
{
	wg_device_view_free(view);
}

static int uapi_set(void *ctx, const struct interface_config *change)
{
	return tunnel_configure(ctx, change);
}

static void uapi_conn_event(struct loop_fd *lfd, uint32_t events)
{
	struct tunnel_uapi_conn *uc = container_of(lfd, struct tunnel_uapi_conn, lfd);
	const struct uapi_ops ops = { uapi_get, uapi_view_free, uapi_set, uc->t };
	enum uapi_conn_status st;

	st = (events & EPOLLOUT) ? uapi_conn_writable(uc->conn, &ops) :
				   uapi_conn_readable(uc->conn, &ops);
	if (st == UAPI_CONN_NEED_MORE && !loop_mod(&uc->t->loop, lfd, EPOLLIN))
		return;
	if (st == UAPI_CONN_DONE && !loop_mod(&uc->t->loop, lfd, EPOLLOUT))
		return;
	loop_del(&uc->t->loop, lfd);
	uapi_conn_close(uc->conn);
	free(uc);
}

static void uapi_acceptable(struct loop_fd *lfd, uint32_t events)
{
	struct tunnel *t = container_of(lfd, struct tunnel, uapi);
	struct tunnel_uapi_conn *uc;
	struct uapi_conn *conn;

	while ((conn = uapi_conn_accept(lfd->fd)) || errno == EBUSY) {
		if (!conn)
			continue;
		uc = calloc(1, sizeof(*uc));
		if (!uc) {
			uapi_conn_close(conn);
			continue;
		}
		uc->conn = conn;
		uc->t = t;
		uc->lfd.fd = uapi_conn_fd(conn);
		uc->lfd.cb = uapi_conn_event;
		if (loop_add(&t->loop, &uc->lfd, EPOLLIN) < 0) {
			uapi_conn_close(conn);
			free(uc);
		}
	}
}

/* Greetings: a restarted daemon's first word to peers that do not know it is back. */

int tunnel_greet(struct tunnel *t, struct wg_peer *peer)
{
	uint8_t(*keys)[NOISE_PUBLIC_KEY_LEN];

	if (t->dev.up) {
		wg_send_keepalive(peer, loop_now());
		return 0;
	}
	keys = realloc(t->greet, (t->ngreet + 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	t->greet = keys;
	memcpy(t->greet[t->ngreet++], peer->public_key, NOISE_PUBLIC_KEY_LEN);
	return 0;
}

/* Keys, not peers: a reload may have removed one since. A peer with a persistent keepalive got
 * its keepalive from wg_device_set_up() already. */
static void greet_waiting(struct tunnel *t)
{
	for (size_t i = 0; i < t->ngreet; i++) {
		struct wg_peer *peer = peer_lookup(&t->dev, t->greet[i]);

		if (peer && peer->has_endpoint && !peer->persistent_keepalive)
			wg_send_keepalive(peer, loop_now());
	}
	free(t->greet);
	t->greet = NULL;
	t->ngreet = 0;
}

/* The interface watch: up and down follow the link, and deleting it ends the daemon. */

static void link_event(void *ctx, const struct nl_event *ev)
{
	struct tunnel *t = ctx;
	bool up;

	if (ev->ifindex != t->ifindex)
		return;
	if (ev->type == NL_LINK_DEL) {
		log_info("%s: interface deleted, exiting", t->ifname);
		t->own_link = false;
		loop_stop(&t->loop);
		return;
	}
	if (ev->type != NL_LINK_NEW)
		return;
	/* Padding never goes past the MTU, so the device follows `ip link set mtu`. */
	if (ev->mtu)
		t->dev.mtu = ev->mtu;
	up = ev->flags & IFF_UP;
	if (up != t->dev.up) {
		log_info("%s: interface %s", t->ifname, up ? "up" : "down");
		wg_device_set_up(&t->dev, up, loop_now());
		if (up)
			greet_waiting(t);
	}
}

/* Addresses and routes are the recovery's; links are ours. */
static void nl_event(void *ctx, const struct nl_event *ev)
{
	struct tunnel *t = ctx;

	recover_nl_event(&t->recover, ev, loop_now());
	link_event(t, ev);
}

static void monitor_readable(struct loop_fd *lfd, uint32_t events)
{
	struct tunnel *t = container_of(lfd, struct tunnel, monitor);

	if (nl_monitor_read(&t->nl, nl_event, t) < 0 || !if_nametoindex(t->ifname)) {
		/* Overrun or error, or the deletion's own message not read yet (only the link
		 * going down was): the interface itself is the truth. own_link is already false
		 * when link_event() saw the deletion and said so. */
		if (t->own_link && !if_nametoindex(t->ifname)) {
			log_info("%s: interface gone, exiting", t->ifname);
			t->own_link = false;
			loop_stop(&t->loop);
		}
	}
}

static void on_signal(struct loop *loop, int signo)
{
	struct tunnel *t = container_of(loop, struct tunnel, loop);

	log_info("%s: %s, shutting down", t->ifname, strsignal(signo));
	loop_stop(loop);
}

static int open_fds(struct tunnel *t, bool serve_uapi)
{
	int ret;

	ret = udp_open(&t->udp, 0, 0);
	if (ret < 0)
		return ret;
	/* Segments of one super-packet leave as one UDP_SEGMENT send where the kernel can, and
	 * arrive as one UDP_GRO datagram. */
	if (udp_set_gso(&t->udp, true) < 0)
		log_debug("%s: no UDP GSO; datagrams are sent one by one", t->ifname);
	if (udp_set_gro(&t->udp, true) < 0)
		log_debug("%s: no UDP GRO; datagrams arrive one by one", t->ifname);
	ret = watch_udp(t);
	if (ret < 0)
		return ret;
	t->tun.cb = tun_readable;
	ret = loop_add(&t->loop, &t->tun, EPOLLIN);
	if (ret < 0)
		return ret;
	ret = nl_open(&t->nl);
	if (ret < 0)
		return ret;
	ret = nl_monitor_open(&t->nl, NL_GROUP_LINK | RECOVER_NL_GROUPS);
	if (!ret)
		ret = recover_init(&t->recover, &t->loop, &t->dev, t->ifindex, t->ifname);
	if (ret < 0)
		return ret;
	t->monitor.fd = nl_monitor_fd(&t->nl);
	t->monitor.cb = monitor_readable;
	ret = loop_add(&t->loop, &t->monitor, EPOLLIN);
	if (ret < 0 || !serve_uapi)
		return ret;
	ret = uapi_sock_listen(t->ifname, &t->uapi.fd);
	if (ret < 0)
		return ret;
	t->uapi_listening = true;
	t->uapi.cb = uapi_acceptable;
	return loop_add(&t->loop, &t->uapi, EPOLLIN);
}

static int alloc_buffers(struct tunnel *t)
{
	int ret;

	/* Mostly address space: a page is touched only when a packet that large arrives. */
	t->slots = malloc((size_t)TUNNEL_SLOTS * SLOT_STRIDE);
	t->rx_slots = malloc((size_t)TUNNEL_RX * WG_RX_SLOT_STRIDE);
	if (!t->slots || !t->rx_slots)
		return -ENOMEM;
	/* 64 KiB apart (and the room), so every datagram starts aligned. */
	ret = udp_batch_init(&t->udp_in, TUNNEL_BATCH, TUNNEL_PKT_MAX + 1);
	if (ret < 0)
		return ret;
	/* Outgoing datagrams point into the slots; the batch's own buffers stay unused. */
	return udp_batch_init(&t->udp_out, TUNNEL_BATCH, 1);
}

/* With virtio headers and TSO the kernel hands over 64 KiB TCP super-packets; where the kernel
 * refuses, plain packets. */
static int open_tun(struct tunnel *t)
{
	int ret = tun_open(t->ifname, TUN_VNET_HDR, &t->tun.fd);

	if (ret < 0)
		return tun_open(t->ifname, 0, &t->tun.fd);
	t->vnet = true;
	if (tun_set_offload(t->tun.fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0)
		log_info("%s: no TSO on the TUN device; packets come one by one", t->ifname);
	return 0;
}

int tunnel_open(struct tunnel *t, const char *ifname, bool serve_uapi)
{
	const struct wg_device_ops ops = {
		.send = op_send,
		.timers_changed = op_timers_changed,
		.peer_added = op_peer_added,
		.peer_removed = op_peer_removed,
		.wall_now = op_wall_now,
		.crypt = op_crypt,
		.ctx = t,
	};
	int ret;

	memset(t, 0, sizeof(*t));
	ret = crypt_pool_start(&t->pool, 0); /* no workers yet: see tunnel_start_workers() */
	if (ret < 0)
		return ret;
	t->tun.fd = t->udp4.fd = t->udp6.fd = t->uapi.fd = t->monitor.fd = -1;
	t->udp.fd4 = t->udp.fd6 = -1;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	ret = loop_init(&t->loop);
	if (ret < 0)
		return ret;
	ret = wg_device_init(&t->dev, &ops, loop_now());
	if (ret < 0)
		return ret;
	ret = loop_timer_add(&t->loop, &t->handshakes, handshakes_due);
	if (!ret)
		ret = alloc_buffers(t);
	if (!ret)
		ret = open_tun(t);
	if (ret < 0)
		return ret;
	t->own_link = true;
	t->ifindex = (int)if_nametoindex(t->ifname);
	ret = open_fds(t, serve_uapi);
	if (ret < 0)
		return ret;
	loop_signal(&t->loop, SIGTERM, on_signal);
	loop_signal(&t->loop, SIGINT, on_signal);
	return 0;
}

int tunnel_start_workers(struct tunnel *t)
{
	unsigned int n = crypt_pool_default_threads();

	crypt_pool_stop(&t->pool);
	return crypt_pool_start(&t->pool, n);
}

int tunnel_run(struct tunnel *t)
{
	int ret = loop_run(&t->loop);

	return ret < 0 ? 1 : t->exit_status;
}

void tunnel_close(struct tunnel *t)
{
	if (t->uapi_listening) {
		uapi_sock_unlink(t->ifname);
		close(t->uapi.fd);
	}
	recover_free(&t->recover);
	crypt_pool_stop(&t->pool);
	free(t->greet);
	wg_device_free(&t->dev);
	if (t->tun.fd >= 0)
		close(t->tun.fd); /* a non-persistent TUN goes away with its last descriptor */
	udp_close(&t->udp);
	nl_close(&t->nl);
	udp_batch_free(&t->udp_in);
	udp_batch_free(&t->udp_out);
	free(t->slots);
	free(t->rx_slots);
	loop_free(&t->loop);
}
