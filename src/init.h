/* The generator behind `porthole init` (and `porthole demo`): a plan holding the endpoint, the
 * forwards, fresh keys and a tunnel subnet, and writers that turn it into the matched pair of
 * files, gateway.conf for the VPS and home.conf for the home device. */
#ifndef PORTHOLE_INIT_H
#define PORTHOLE_INIT_H

#include <stdbool.h>
#include <stdio.h>
#include <netinet/in.h>
#include "compat.h"
#include "encoding.h"

enum { INIT_MAX_FORWARDS = 64, INIT_DEFAULT_PORT = 51820 };

struct init_forward {
	unsigned int port;
	bool udp;
};

struct init_plan {
	const char *endpoint; /* host, as given */
	unsigned int port;
	const char *dir;
	struct init_forward fwd[INIT_MAX_FORWARDS];
	size_t nfwd;
	/* Tunnel subnets: 10.<a>.<b>.0/24 and fd<ula>::/64; the gateway is .1, home .2. */
	uint8_t a, b;
	uint8_t ula[7];
	char gw_priv[KEY_B64_LEN + 1], gw_pub[KEY_B64_LEN + 1];
	char home_priv[KEY_B64_LEN + 1], home_pub[KEY_B64_LEN + 1];
	char psk[KEY_B64_LEN + 1];
};

/* HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address; arg is modified and referenced. */
int init_parse_endpoint(struct init_plan *p, char *arg) WARN_UNUSED;
/* PORT, PORT/tcp or PORT/udp; -EINVAL beyond INIT_MAX_FORWARDS. */
int init_parse_forward(struct init_plan *p, const char *arg) WARN_UNUSED;
/* Fresh key pairs, pre-shared key and subnets. The plan then holds secrets: crypto_wipe it. */
int init_make_secrets(struct init_plan *p) WARN_UNUSED;
/* The tunnel address of host 1 (gateway) or 2 (home). */
void init_tunnel_addr(const struct init_plan *p, uint8_t host, struct in_addr *out);

typedef void init_writer(FILE *f, const struct init_plan *p);
init_writer init_write_gateway, init_write_home;
/* Creates dir/name, mode 0600, never replacing a file, and fills it; 0 or -errno with the
 * reason on stderr. */
int init_create(const char *dir, const char *name, init_writer *fill,
		const struct init_plan *p) WARN_UNUSED;

#endif
