/* What `porthole show` and the metrics report: a snapshot of a running daemon taken on its
 * loop thread, then formatted away from it. Formatting is pure (the snapshot and a wall-clock
 * time in, text out), so it is tested without a daemon.
 *
 * The JSON document (`porthole show --json`, the control socket's "show"):
 *   { "name", "interface": null | { "public_key", "listen_port", "drops": {REASON: N},
 *     "peers": [ { "public_key", "endpoint" (or null), "latest_handshake" (Unix seconds,
 *     0 = never), "rx_bytes", "tx_bytes", "persistent_keepalive" (seconds, 0 = off),
 *     "allowed_ips": ["10.0.0.2/32"], "drops": {REASON: N} } ] },
 *   "forwards": [ { "name", "protocol" ("tcp"|"udp"), "listen", "target",
 *     "active", "total", "bytes_in", "bytes_out", "errors": {KIND: N},
 *     "proxy_failures" } ] }
 * REASON is drop_reason_str(), KIND is gateway_error_str(); only non-zero counts appear. */
#ifndef PORTHOLE_STATUS_H
#define PORTHOLE_STATUS_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "compat.h"
#include "config.h"
#include "gateway.h"
#include "messages.h"

struct daemon;

enum { STATUS_ADDR_MAX = 72 }; /* "[ipv6%scope]:port", as ENDPOINT_STRLEN */

struct status_peer {
	uint8_t public_key[CRYPTO_KEY_LEN];
	char endpoint[STATUS_ADDR_MAX]; /* empty: none */
	uint64_t last_handshake;	/* Unix seconds, 0 = never */
	uint64_t rx_bytes, tx_bytes;
	uint16_t persistent_keepalive;
	struct allowed_ip *allowed_ips;
	size_t n_allowed_ips;
	uint64_t drops[DROP__MAX];
};

struct status_forward {
	char name[CONFIG_NAME_MAX];
	enum fwd_protocol protocol;
	char listen[STATUS_ADDR_MAX];
	char target[CONFIG_HOST_MAX + 8];
	struct gateway_stats stats; /* stats.name points at name */
};

struct status {
	char name[IFNAMSIZ];
	bool has_interface;
	bool has_public_key;
	uint8_t public_key[CRYPTO_KEY_LEN];
	uint16_t listen_port;
	uint32_t busy_poll_us; /* BusyPoll as the loops run it */
	uint64_t drops[DROP__MAX]; /* device-level: packets that named no peer */
	struct status_peer *peers;
	size_t npeers;
	struct status_forward *forwards;
	size_t nforwards;
};

/* Copies the daemon's state (on its loop thread): 0 or -ENOMEM, with s freed again. */
int status_collect(struct status *s, const struct daemon *d) WARN_UNUSED;
void status_free(struct status *s);

/* The document above, pretty or compact. */
void status_json(const struct status *s, FILE *f, bool pretty);
/* `wg show`-like text for an 80-column terminal: the interface, its peers, then the forwards
 * as a table. now is Unix seconds, for "1 minute, 5 seconds ago". */
void status_text(const struct status *s, FILE *f, uint64_t now);
/* "1 day, 2 hours, 3 seconds"; "0 seconds" for 0. */
void status_duration(char *out, size_t cap, uint64_t seconds);

#endif
