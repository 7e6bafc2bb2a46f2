/* The layer-4 gateway: [Forward] sections served on an event loop. TCP and UDP listeners forward
 * to their targets, with PROXY protocol v1/v2 out and in and routing by TLS SNI on a shared
 * Listen, in place of HAProxy's `mode tcp` with `send-proxy`.
 *
 * The gateway runs on the loop thread (the tunnel's, or a standalone one for forward-only files);
 * every call here must come from that thread, or while the loop is not running. Each forward is an
 * independent object, and listeners belong to Listen address groups, so that a later reload can
 * add and remove forwards without disturbing the others. */
#ifndef PORTHOLE_GATEWAY_H
#define PORTHOLE_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"
#include "config.h"
#include "loop.h"

struct gateway;

/* How connections (TCP) or flows (UDP) that did not end normally ended. */
enum gateway_error {
	GW_ERR_DENIED,	/* AllowFrom, or a PROXY header from an untrusted source */
	GW_ERR_LIMIT,	/* MaxConnections, MaxConnectionsPerSource, or the UDP flow table */
	GW_ERR_PROXY,	/* bad, missing or late PROXY header */
	GW_ERR_SNI,	/* bad or late ClientHello, or no forward for its name */
	GW_ERR_CONNECT, /* target unreachable until ConnectTimeout, or refused for good */
	GW_ERR_IDLE,	/* IdleTimeout */
	GW_ERR_RESET,	/* a reset by either side, passed on to the other */
	GW_ERR_IO,	/* any other socket error, or out of descriptors or memory */
	GW_ERR_MAX,
};

/* Per-forward counters. Events before a shared Listen has chosen its forward (a bad PROXY
 * header, a ClientHello matching nothing) count on the group's default forward, or its first. */
struct gateway_stats {
	const char *name;
	uint64_t active;    /* open connections or UDP flows */
	uint64_t total;	    /* accepted connections or created flows */
	uint64_t bytes_in;  /* client -> target, payload only (no PROXY header) */
	uint64_t bytes_out; /* target -> client */
	uint64_t errors[GW_ERR_MAX];
	uint64_t proxy_failures;   /* PROXY headers refused, a subset of errors[] */
	uint64_t splice_fallbacks; /* connections that wanted splice(2) but used the copy path */
};

/* Opens a listener per Listen address group of cfg's forwards and serves them on loop; host
 * names in Target are resolved here, once. Returns 0 or a negative errno with err filled in. */
int gateway_open(struct gateway **out, struct loop *loop, const struct porthole_config *cfg,
		 char *err, size_t errlen) WARN_UNUSED;
/* Makes the forwards those of cfg: unchanged forwards keep their listeners and connections, a
 * changed one is removed and added again. A Listen shared with a removed, changed or added
 * forward keeps its socket but closes its connections. On error (a target that does not
 * resolve, a port that cannot be bound) nothing changed, except past a failure to register a
 * listener with the loop, which err then names. 0 or a negative errno. */
int gateway_reload(struct gateway *gw, const struct porthole_config *cfg, char *err,
		   size_t errlen) WARN_UNUSED;
/* Closes every listener and connection (without log lines) and frees the gateway. */
void gateway_close(struct gateway *gw);

/* The counters of forward i, in configuration order; false past the last one. */
size_t gateway_forwards(const struct gateway *gw);
bool gateway_stats(const struct gateway *gw, size_t i, struct gateway_stats *out) WARN_UNUSED;
const char *gateway_error_str(enum gateway_error err);

#endif
