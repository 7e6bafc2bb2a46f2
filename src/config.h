/* The configuration data model and the wg-quick style file parser (a superset: [Forward]).
 *
 * One parser, driven line by line through a context (init, line, finish), serves files and
 * strings alike so that it can be fuzzed. It resolves no names and runs nothing: a host name in
 * Endpoint or Target is kept as text for the edge to resolve. Every error is one line,
 * "FILE:LINE: what is wrong", quoting the bad value. */
#ifndef PORTHOLE_CONFIG_H
#define PORTHOLE_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "compat.h"
#include "crypto.h"

enum config_limits {
	CONFIG_MAX_ALLOWED_IPS = 65536, /* per peer */
	CONFIG_MAX_PEERS = 1 << 20,	/* as MAX_PEERS_PER_DEVICE */
	CONFIG_MAX_FORWARDS = 4096,
	CONFIG_MAX_LIST = 65536, /* addresses, server names, prefixes of one list */
	CONFIG_HOST_MAX = 256,	 /* host name text, with its NUL */
	CONFIG_NAME_MAX = 64,	 /* forward name, with its NUL */
	CONFIG_SERVER_NAME_MAX = 253,
	/* 22 ChaCha20 blocks: a full packet's plaintext is a whole number of 64-byte blocks,
	 * sealed and opened without a partial block (530 against 549 ns per packet at 1420, for
	 * 0.8 % less payload; docs/design.md, The MTU). Only porthole up's default: porthole-wg
	 * keeps wireguard-go's 1420, and an MTU line always wins. */
	CONFIG_DEFAULT_MTU = 1408,
	WG_GO_DEFAULT_MTU = 1420,
	CONFIG_MIN_MTU = 576,
	CONFIG_MAX_MTU = 65535,
	CONFIG_DEFAULT_MAX_CONNECTIONS = 1024,
	CONFIG_MAX_BUSY_POLL_US = 1000,
};
#define CONFIG_DEFAULT_CONNECT_TIMEOUT	(5 * NSEC_PER_SEC)
#define CONFIG_DEFAULT_TCP_IDLE_TIMEOUT (3600 * NSEC_PER_SEC)
#define CONFIG_DEFAULT_UDP_IDLE_TIMEOUT (60 * NSEC_PER_SEC)

/* A prefix: an allowed IP, an interface address (host bits kept) or an access-list entry. */
struct allowed_ip {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	uint8_t cidr;
};

struct ip_list {
	struct allowed_ip *items;
	size_t len, cap;
};

struct string_list {
	char **items;
	size_t len, cap;
};

struct peer_config {
	uint8_t public_key[CRYPTO_KEY_LEN];
	uint8_t preshared_key[CRYPTO_KEY_LEN];
	bool has_public_key;
	bool has_psk;
	/* has_endpoint: an endpoint was given. endpoint holds it when numeric; when it names a
	 * host, endpoint.ss_family is AF_UNSPEC and the edge resolves endpoint_host. */
	bool has_endpoint;
	struct sockaddr_storage endpoint;
	char endpoint_host[CONFIG_HOST_MAX];
	uint16_t endpoint_port;
	uint16_t persistent_keepalive; /* seconds, 0 = off */
	bool has_keepalive;
	struct ip_list allowed_ips;
	/* For the configuration protocol; a file always sets replace_allowed_ips. */
	bool remove, update_only, replace_allowed_ips;
	unsigned int line;
};

struct interface_config {
	uint8_t private_key[CRYPTO_KEY_LEN];
	bool has_private_key;
	uint16_t listen_port;
	bool has_listen_port;
	uint32_t fwmark;
	bool has_fwmark;
	bool replace_peers;
	struct peer_config *peers;
	size_t npeers, peers_cap;
	struct ip_list addresses;
	uint32_t mtu; /* CONFIG_DEFAULT_MTU unless has_mtu */
	bool has_mtu;
	char metrics_listen[CONFIG_HOST_MAX];
	uint32_t busy_poll_us; /* 0: the loops block as soon as they are idle */
	unsigned int line;
};

enum fwd_protocol { FWD_TCP, FWD_UDP };
enum fwd_send_proxy { SEND_PROXY_OFF, SEND_PROXY_V1, SEND_PROXY_V2 };
enum fwd_accept_proxy { ACCEPT_PROXY_OFF, ACCEPT_PROXY_REQUIRED, ACCEPT_PROXY_OPTIONAL };

struct forward_config {
	char name[CONFIG_NAME_MAX];
	struct sockaddr_storage listen;
	bool has_listen;
	enum fwd_protocol protocol;
	/* target_host is the text before the port; target holds the address when numeric. */
	char target_host[CONFIG_HOST_MAX];
	uint16_t target_port;
	struct sockaddr_storage target;
	bool has_target, has_target_addr;
	enum fwd_send_proxy send_proxy;
	enum fwd_accept_proxy accept_proxy;
	struct ip_list trusted_proxies;
	struct string_list server_names; /* lower case; exact, or "*.example.org" */
	struct ip_list allow_from;	 /* empty: everyone */
	uint32_t max_connections;	 /* 0: no limit */
	uint32_t max_connections_per_source;
	uint64_t connect_timeout_ns; /* 0: no timeout */
	uint64_t idle_timeout_ns;
	bool has_connect_timeout, has_idle_timeout;
	/* Splice = auto (default): TCP data moves with splice(2), falling back to copying through
	 * a buffer where splice is unavailable; off: always copy (for tests and odd kernels). */
	bool splice_off;
	unsigned int line;
};

struct porthole_config {
	struct interface_config iface;
	bool has_interface;
	struct forward_config *forwards;
	size_t nforwards, forwards_cap;
	char source[256];
};

/* Releases every list and wipes the keys; the struct is left zeroed and reusable. */
void config_free(struct porthole_config *cfg);
void config_interface_free(struct interface_config *iface);

/* Appends a zeroed peer; NULL when out of memory or past CONFIG_MAX_PEERS. */
struct peer_config *config_add_peer(struct interface_config *iface);
/* 0, -ENOMEM, or -E2BIG past max entries. */
int ip_list_add(struct ip_list *list, const struct allowed_ip *ip, size_t max) WARN_UNUSED;
void ip_list_free(struct ip_list *list);
int string_list_add(struct string_list *list, const char *s, size_t max) WARN_UNUSED;
void string_list_free(struct string_list *list);

/* Value parsers shared with the configuration protocol. On failure *why says what is wrong. */
/* "10.0.0.1/24", "fd00::/64"; without a length the prefix is a host (/32, /128). Host bits
 * are kept as given. */
bool config_parse_prefix(struct allowed_ip *out, const char *text, const char **why) WARN_UNUSED;
/* "1.2.3.4:51820", "[2001:db8::1]:51820", "[fe80::1%eth0]:51820"; with allow_name also
 * "host.example:51820", which leaves out->ss_family AF_UNSPEC. host receives the host text. */
bool config_parse_endpoint(struct sockaddr_storage *out, char host[CONFIG_HOST_MAX], uint16_t *port,
			   const char *text, bool allow_name, const char **why) WARN_UNUSED;
/* Same family, address and port (IPv4 or IPv6). */
bool sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
	WARN_UNUSED;
/* "5s", "500ms", "2m", "1h", "1d"; a plain number is seconds. */
bool config_parse_duration(uint64_t *ns, const char *text, const char **why) WARN_UNUSED;
/* Decimal in [0, max]. */
bool config_parse_uint(uint64_t *out, const char *text, uint64_t max) WARN_UNUSED;

/* The parser, a line at a time. Lines carry no newline; ctx counts them from 1. */
struct config_ctx {
	struct porthole_config *cfg;
	enum { SECTION_NONE, SECTION_INTERFACE, SECTION_PEER, SECTION_FORWARD } section;
	unsigned int line;
	char *err;
	size_t errlen;
};

/* Each returns 0 or a negative errno (-EINVAL for a bad file, with err filled in). After an
 * error, or after finish, the caller owns cfg and must config_free() it. */
int config_init(struct config_ctx *ctx, struct porthole_config *cfg, const char *name, char *err,
		size_t errlen) WARN_UNUSED;
int config_line(struct config_ctx *ctx, const char *line) WARN_UNUSED;
int config_finish(struct config_ctx *ctx) WARN_UNUSED;

/* Whole inputs. On error cfg is freed, err holds one line, and the result is negative. A file
 * readable by others gets a warning on the log, like wg-quick, and is still read. */
int config_parse_file(struct porthole_config *cfg, const char *path, char *err,
		      size_t errlen) WARN_UNUSED;
int config_parse_string(struct porthole_config *cfg, const char *name, const char *text, char *err,
			size_t errlen) WARN_UNUSED;

#endif
