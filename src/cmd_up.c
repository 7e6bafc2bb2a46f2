/* porthole up FILE: a tunnel (and later the gateway) from one wg-quick style file, in the
 * foreground. porthole check FILE: the same file's validation alone. */
#include <errno.h>
#include <libgen.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "netconf.h"
#include "subcommands.h"
#include "tunnel.h"

/* The interface is named after the file, as with wg-quick: /etc/porthole/home.conf -> home. */
static int ifname_of(const char *path, char name[IFNAMSIZ])
{
	char copy[4096];
	char *base, *dot;

	snprintf(copy, sizeof(copy), "%s", path);
	base = basename(copy);
	dot = strrchr(base, '.');
	if (dot && !strcmp(dot, ".conf"))
		*dot = '\0';
	if (!*base || strlen(base) >= IFNAMSIZ || strspn(base, "abcdefghijklmnopqrstuvwxyz"
							 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							 "0123456789_=+.-") != strlen(base)) {
		fprintf(stderr, "%s: the file name must give an interface name of 1 to 15 "
				"characters from [a-zA-Z0-9_=+.-]\n",
			path);
		return -EINVAL;
	}
	snprintf(name, IFNAMSIZ, "%s", base);
	return 0;
}

static int load(const char *path, struct porthole_config *cfg)
{
	char err[512];

	if (config_parse_file(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EINVAL;
	}
	return 0;
}

/* Host names in Endpoint are looked up once at start; the first answer wins. */
static int resolve_endpoints(struct porthole_config *cfg)
{
	for (size_t i = 0; i < cfg->iface.npeers; i++) {
		struct peer_config *pc = &cfg->iface.peers[i];
		struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
		char port[8];
		int ret;

		if (!pc->has_endpoint || pc->endpoint.ss_family != AF_UNSPEC)
			continue;
		snprintf(port, sizeof(port), "%u", pc->endpoint_port);
		ret = getaddrinfo(pc->endpoint_host, port, &hints, &res);
		if (ret) {
			fprintf(stderr, "%s:%u: cannot resolve endpoint '%s': %s\n", cfg->source,
				pc->line, pc->endpoint_host, gai_strerror(ret));
			return -EHOSTUNREACH;
		}
		memcpy(&pc->endpoint, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
	}
	return 0;
}

int check_main(int argc, char *argv[])
{
	struct porthole_config cfg = { 0 };

	if (argc != 2) {
		fprintf(stderr, "Usage: %s %s FILE\n", prog_name, argv[0]);
		return 1;
	}
	if (load(argv[1], &cfg) < 0)
		return 1;
	printf("%s: ok (%zu peers, %zu forwards)\n", argv[1], cfg.iface.npeers, cfg.nforwards);
	config_free(&cfg);
	return 0;
}

static int bring_up(struct tunnel *t, struct porthole_config *cfg, struct netconf_state *st)
{
	const char *what = "configuring the device";
	uint32_t mark = netconf_fwmark(&cfg->iface);
	int ret;

	cfg->iface.replace_peers = true;
	if (mark && !cfg->iface.has_fwmark) {
		cfg->iface.fwmark = mark;
		cfg->iface.has_fwmark = true;
	}
	ret = tunnel_configure(t, &cfg->iface);
	if (!ret)
		ret = netconf_up(&t->nl, t->ifindex, &cfg->iface, st, &what);
	if (ret < 0)
		log_errno(LOG_LEVEL_ERR, ret, "%s: %s", t->ifname, what);
	return ret;
}

int up_main(int argc, char *argv[])
{
	struct porthole_config cfg = { 0 };
	struct netconf_state st = { 0 };
	char ifname[IFNAMSIZ];
	struct tunnel *t;
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "Usage: %s %s FILE\n", prog_name, argv[0]);
		return 1;
	}
	if (load(argv[1], &cfg) < 0 || resolve_endpoints(&cfg) < 0)
		goto out_cfg;
	if (!cfg.has_interface) {
		fprintf(stderr, "%s: no [Interface] section; forward-only files need the gateway, "
				"which this build does not have yet\n",
			argv[1]);
		goto out_cfg;
	}
	if (ifname_of(argv[1], ifname) < 0)
		goto out_cfg;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto out_cfg;
	ret = tunnel_open(t, ifname, true);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the interface", ifname);
		ret = 1;
		goto out_tunnel;
	}
	ret = 1;
	if (bring_up(t, &cfg, &st) < 0)
		goto out_netconf;
	log_info("%s: up, %zu peers, listening on port %u", ifname, cfg.iface.npeers,
		 t->udp.port);
	ret = tunnel_run(t);
out_netconf:
	netconf_down(&t->nl, &st);
out_tunnel:
	tunnel_close(t);
	free(t);
out_cfg:
	config_free(&cfg);
	return ret;
}
