/* porthole up FILE: a tunnel and the gateway's [Forward]s from one wg-quick style file, in the
 * foreground; a file with only [Forward]s runs the gateway alone, as a plain forwarder beside
 * kernel WireGuard. porthole check FILE: the same file's validation alone. */
#include <errno.h>
#include <libgen.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway.h"
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

static int gateway_start(struct gateway **gw, struct loop *loop, const struct porthole_config *cfg)
{
	char err[512];

	*gw = NULL;
	if (!cfg->nforwards)
		return 0;
	if (gateway_open(gw, loop, cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	log_info("gateway: %zu forwards", cfg->nforwards);
	return 0;
}

static void forwarder_signal(struct loop *loop, int signo)
{
	log_info("gateway: %s, shutting down", strsignal(signo));
	loop_stop(loop);
}

/* No [Interface]: the forwards on a loop of their own. */
static int forward_only(const struct porthole_config *cfg)
{
	struct gateway *gw;
	struct loop loop;
	int ret = 1;

	if (loop_init(&loop) < 0) {
		log_err("gateway: cannot create the event loop");
		return 1;
	}
	if (loop_signal(&loop, SIGTERM, forwarder_signal) < 0 ||
	    loop_signal(&loop, SIGINT, forwarder_signal) < 0)
		goto out;
	if (gateway_start(&gw, &loop, cfg) < 0)
		goto out;
	ret = loop_run(&loop) < 0 ? 1 : 0;
	gateway_close(gw);
out:
	loop_free(&loop);
	return ret;
}

int up_main(int argc, char *argv[])
{
	struct porthole_config cfg = { 0 };
	struct netconf_state st = { 0 };
	struct gateway *gw = NULL;
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
		ret = cfg.nforwards ? forward_only(&cfg) : 1;
		if (!cfg.nforwards)
			fprintf(stderr, "%s: neither [Interface] nor [Forward]: nothing to run\n",
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
	if (gateway_start(&gw, &t->loop, &cfg) < 0)
		goto out_netconf;
	ret = tunnel_run(t);
	gateway_close(gw);
out_netconf:
	netconf_down(&t->nl, &st);
out_tunnel:
	tunnel_close(t);
	free(t);
out_cfg:
	config_free(&cfg);
	return ret;
}
