/* Recovery that does not wait for the protocol's timers.
 *
 * Local network changes: when an address appears or goes on another interface, or a default
 * route or the route to a peer's endpoint changes, every peer that has something to lose (a
 * persistent keepalive or a past handshake) forgets its cached source address and gets a
 * keepalive at once, which starts a handshake when there is no session. The other side roams to
 * the new address on the first authenticated packet, so a home server whose address changed is
 * reachable again within one round trip, not at the next persistent keepalive. One change is a
 * burst of events: they are coalesced for RECOVER_SETTLE_MS, and kicks are at least
 * RECOVER_INTERVAL_MS apart, with a trailing kick so that the last state always gets one.
 *
 * Endpoint host names: a peer configured with Endpoint = name:port is looked up again when the
 * protocol's own timers say handshakes are failing, that is when they ask for an initiation (a
 * retry after REKEY_TIMEOUT without answer, or a fresh one after data went out and nothing came
 * back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), at most once per RECOVER_LOOKUP_GAP_S per peer.
 * A peer that only sends keepalives notices at its next rekey (REKEY_AFTER_TIME). Lookups run
 * on a helper thread and come back over a datagram socket pair read by the loop; when the
 * current address is not among the answers, the peer moves to the first answer and an
 * initiation goes there at once.
 *
 * Everything but the helper threads runs on the tunnel's loop thread. */
#ifndef PORTHOLE_RECOVER_H
#define PORTHOLE_RECOVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "compat.h"
#include "config.h"
#include "device.h"
#include "loop.h"
#include "netlink.h"

enum recover_limits {
	RECOVER_SETTLE_MS = 10,	   /* the rest of a burst of events arrives within this */
	RECOVER_INTERVAL_MS = 100, /* at most one kick per this, however many events */
	RECOVER_HOSTS_MAX = 64,	   /* peers whose Endpoint is a host name */
	RECOVER_ANSWERS_MAX = 8,   /* addresses taken from one DNS answer */
	RECOVER_LOOKUP_GAP_S = 5,  /* REKEY_TIMEOUT: between two lookups of one peer's host */
	RECOVER_NL_GROUPS = NL_GROUP_ADDR4 | NL_GROUP_ADDR6 | NL_GROUP_ROUTE4 | NL_GROUP_ROUTE6,
};

/* When to kick: a pure rate limiter over event times. */
struct recover_pace {
	uint64_t due;	    /* deadline armed, 0 = none */
	uint64_t last_kick; /* meaningful once kicked */
	bool kicked;
};

struct recover_host {
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	char name[CONFIG_HOST_MAX];
	uint16_t port;
	bool resolving; /* a helper thread is on it */
	bool looked_up; /* last_lookup is meaningful */
	uint64_t last_lookup;
};

struct recover {
	struct loop *loop; /* NULL until recover_init() */
	struct wg_device *dev;
	int ifindex; /* the tunnel's own: its addresses and routes are ours, not the network's */
	const char *ifname;
	struct loop_timer timer;
	struct recover_pace pace;
	struct loop_fd answers; /* helper threads send their answers to the other end */
	int answers_wr;
	struct recover_host hosts[RECOVER_HOSTS_MAX];
	unsigned int nhosts;
	uint64_t kicks, lookups, moves;
};

int recover_init(struct recover *r, struct loop *loop, struct wg_device *dev, int ifindex,
		 const char *ifname) WARN_UNUSED;
/* Safe on a zeroed struct and after a failed init. Lookups still running finish into the
 * void. */
void recover_free(struct recover *r);

/* Every monitor event, of every group. */
void recover_nl_event(struct recover *r, const struct nl_event *ev, uint64_t now);
/* After a configuration change is applied: learns (or forgets) the peers' host names. */
void recover_configured(struct recover *r, const struct interface_config *change);
/* When a peer's timer fires, before peer_timers_expire(). */
void recover_peer_timer(struct recover *r, struct wg_peer *peer, uint64_t now);

/* The pure parts. */
/* An address or route change that may have moved our source address: on another interface
 * than own_ifindex, a usable (not tentative, not link-local) address, or a default route outside
 * the local table; and an overrun, after which anything may have changed. */
bool recover_event_matters(const struct nl_event *ev, int own_ifindex) WARN_UNUSED;
/* A route event whose prefix holds ep's address (on another interface than own_ifindex). */
bool recover_route_covers(const struct nl_event *ev, int own_ifindex,
			  const struct endpoint *ep) WARN_UNUSED;
/* The timers are about to ask for an initiation: handshakes are failing. */
bool recover_initiation_due(const struct timers *t, uint64_t now) WARN_UNUSED;
/* An event at now: the deadline to arm the kick timer for, or 0 when one is armed already. */
uint64_t recover_pace_event(struct recover_pace *p, uint64_t now);
/* The kick timer fired and the kick was made. */
void recover_pace_kicked(struct recover_pace *p, uint64_t now);
/* Which of a lookup's n answers the peer at cur should move to, or -1 to stay: when cur is
 * among them, or none is usable. */
int recover_pick(const struct endpoint *cur, const struct sockaddr_storage *answers,
		 unsigned int n) WARN_UNUSED;
/* "vps.example.org" rather than "192.0.2.1" or "2001:db8::1%eth0". */
bool recover_is_name(const char *host) WARN_UNUSED;

#endif
