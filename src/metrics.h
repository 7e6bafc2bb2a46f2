/* Prometheus metrics over HTTP/1.0 on MetricsListen (an [Interface] key, off by default):
 * GET /metrics answers the text exposition format (version 0.0.4); any other path is 404, any
 * other method 405, a malformed or oversized request 400. Bounded like the control socket:
 * METRICS_MAX_CONNS at once, METRICS_REQUEST_MAX bytes, METRICS_DEADLINE_MS to finish.
 *
 * Series (every one labelled interface="NAME"):
 *   porthole_peer_last_handshake_seconds{public_key}  gauge, Unix time, 0 = never
 *   porthole_peer_handshake_age_seconds{public_key}   gauge, now - the above (peers that had one)
 *   porthole_peer_rx_bytes_total, porthole_peer_tx_bytes_total{public_key}
 *   porthole_dropped_packets_total{reason[,public_key]} drop_reason_str() names; without
 *                                                     public_key: drops that named no peer
 *   porthole_forward_connections_active, _connections_total, _bytes_in_total,
 *   _bytes_out_total, _proxy_failures_total{forward,protocol}
 *   porthole_forward_errors_total{forward,protocol,kind} gateway_error_str() names */
#ifndef PORTHOLE_METRICS_H
#define PORTHOLE_METRICS_H

#include <stdio.h>
#include "compat.h"
#include "status.h"

enum metrics_limits {
	METRICS_REQUEST_MAX = 4096, /* request line and headers */
	METRICS_MAX_CONNS = 16,
	METRICS_DEADLINE_MS = 5000, /* from accept to the reply sent */
};

enum metrics_route {
	METRICS_OK = 200,
	METRICS_BAD = 400,
	METRICS_NOT_FOUND = 404,
	METRICS_BAD_METHOD = 405
};

struct daemon;
struct metrics;

/* Serves d's MetricsListen when set (else *out = NULL): 0 or -errno, logged. */
int metrics_open(struct metrics **out, struct daemon *d) WARN_UNUSED;
void metrics_close(struct metrics *m);

/* The pure parts. What to answer to the request in[0, len); *head for a HEAD request. */
enum metrics_route metrics_route(const char *in, size_t len, bool *head);
/* The exposition text for a snapshot; now is Unix seconds. */
void metrics_format(const struct status *s, FILE *f, uint64_t now);

#endif
