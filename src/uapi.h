/* The cross-platform userspace configuration protocol (wireguard.com/xplatform), the one `wg`
 * speaks to wireguard-go over /var/run/wireguard/IFNAME.sock: parse requests, format replies.
 *
 * Requests are "get=1\n\n", or "set=1\n" followed by key=value lines and an empty line. A set
 * becomes a change description in config.h's types:
 *   - has_private_key with an all-zero key clears the private key (as wg's "private-key
 * /dev/null");
 *   - has_fwmark with fwmark 0 clears the mark;
 *   - replace_peers, and per peer remove, update_only and replace_allowed_ips, are the protocol's
 *     flags; peers and allowed IPs are in request order and must be applied in that order;
 *   - has_psk with an all-zero key removes the preshared key.
 * Error codes follow wireguard-go: EINVAL for a bad value, EPROTO for a line that is not
 * key=value or a key that is not known in its place, EMSGSIZE past UAPI_LINE_MAX or
 * UAPI_REQUEST_MAX, E2BIG past CONFIG_MAX_ALLOWED_IPS for one peer, ENOMEM. On the wire
 * the reply carries the negated code ("errno=-22"), which is what `wg` expects. */
#ifndef PORTHOLE_UAPI_H
#define PORTHOLE_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"
#include "config.h"

enum uapi_limits {
	UAPI_LINE_MAX = 4096,	     /* one key=value line, without its newline */
	UAPI_REQUEST_MAX = 16 << 20, /* one whole request, so a client cannot grow memory */
	UAPI_REPLY_ERRNO_MAX = 32,   /* "errno=-2147483648\n\n" and its NUL */
};

enum uapi_status { UAPI_NEED_MORE, UAPI_DONE, UAPI_BAD };
enum uapi_op { UAPI_OP_NONE, UAPI_OP_GET, UAPI_OP_SET };

struct uapi_parser {
	enum uapi_op op;
	int err; /* positive errno once uapi_feed() said UAPI_BAD */
	bool in_peer;
	size_t total;
	size_t linelen;
	struct interface_config change; /* a set request, valid once uapi_feed() said UAPI_DONE */
	char line[UAPI_LINE_MAX + 1];
};

void uapi_parser_init(struct uapi_parser *p);
/* Frees the change and readies the parser for the next request on the same connection. */
void uapi_parser_reset(struct uapi_parser *p);
void uapi_parser_free(struct uapi_parser *p);
/* Consumes bytes of buf up to the end of one request; *used (if not NULL) says how many, so
 * the rest can be fed again after the request is served. Once DONE or BAD, reset before
 * feeding more. */
enum uapi_status uapi_feed(struct uapi_parser *p, const void *buf, size_t len, size_t *used);

/* What a get reports; the daemon fills it, uapi_format_get() prints it. */
struct uapi_peer_view {
	uint8_t public_key[CRYPTO_KEY_LEN];
	uint8_t preshared_key[CRYPTO_KEY_LEN]; /* all zero when there is none */
	struct sockaddr_storage endpoint;      /* ss_family AF_UNSPEC when there is none */
	uint64_t last_handshake_sec, last_handshake_nsec; /* wall clock, 0 when never */
	uint64_t tx_bytes, rx_bytes;
	uint16_t persistent_keepalive_interval;
	const struct allowed_ip *allowed_ips;
	size_t n_allowed_ips;
};

struct uapi_device_view {
	uint8_t private_key[CRYPTO_KEY_LEN];
	bool has_private_key;
	uint16_t listen_port; /* 0: not printed */
	uint32_t fwmark;      /* 0: not printed */
	const struct uapi_peer_view *peers;
	size_t npeers;
};

/* The whole reply to a get, in wireguard-go's key order, ending "errno=0\n\n". *out is
 * malloc'ed and holds a private key: the caller wipes and frees it. 0 or -ENOMEM. */
int uapi_format_get(char **out, size_t *len, const struct uapi_device_view *view) WARN_UNUSED;
/* "errno=N\n\n" for an error code given either way round (22 or -22); returns the length. */
size_t uapi_format_errno(char out[UAPI_REPLY_ERRNO_MAX], int err);

#endif
