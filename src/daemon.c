#include <errno.h>
#include <libgen.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon.h"
#include "log.h"

int daemon_name_of(const char *path, char name[IFNAMSIZ])
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

/* Host names in Endpoint are looked up when the file is loaded; the first answer wins. */
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

int daemon_load(const char *path, struct porthole_config *cfg, bool resolve)
{
	char err[512];

	if (config_parse_file(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EINVAL;
	}
	if (resolve && resolve_endpoints(cfg) < 0) {
		config_free(cfg);
		return -EINVAL;
	}
	return 0;
}

/* The device gets the file's [Interface] and [Peer]s, then the interface its addresses, MTU
 * and routes. */
static int bring_up(struct daemon *d)
{
	struct interface_config *iface = &d->cfg.iface;
	const char *what = "configuring the device";
	uint32_t mark = netconf_fwmark(iface);
	struct tunnel *t = d->tunnel;
	int ret;

	iface->replace_peers = true;
	if (mark && !iface->has_fwmark) {
		iface->fwmark = mark;
		iface->has_fwmark = true;
	}
	ret = tunnel_configure(t, iface);
	if (!ret)
		ret = netconf_up(&t->nl, t->ifindex, iface, &d->netconf, &what);
	if (ret < 0)
		log_errno(LOG_LEVEL_ERR, ret, "%s: %s", t->ifname, what);
	return ret;
}

static int start_tunnel(struct daemon *d)
{
	int ret;

	d->tunnel = calloc(1, sizeof(*d->tunnel));
	if (!d->tunnel)
		return -ENOMEM;
	ret = tunnel_open(d->tunnel, d->name, true);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the interface", d->name);
		return ret;
	}
	d->loop = &d->tunnel->loop;
	ret = bring_up(d);
	if (ret < 0)
		return ret;
	log_info("%s: up, %zu peers, listening on port %u", d->name, d->cfg.iface.npeers,
		 d->tunnel->udp.port);
	return 0;
}

static void forwarder_signal(struct loop *loop, int signo)
{
	log_info("gateway: %s, shutting down", strsignal(signo));
	loop_stop(loop);
}

/* No [Interface]: the forwards get a loop of their own. */
static int start_loop(struct daemon *d)
{
	int ret = loop_init(&d->own_loop);

	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the event loop", d->name);
		return ret;
	}
	d->own_loop_ready = true;
	d->loop = &d->own_loop;
	ret = loop_signal(d->loop, SIGTERM, forwarder_signal);
	return ret < 0 ? ret : loop_signal(d->loop, SIGINT, forwarder_signal);
}

static int start_gateway(struct daemon *d)
{
	char err[512];
	int ret;

	if (!d->cfg.nforwards)
		return 0;
	ret = gateway_open(&d->gw, d->loop, &d->cfg, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	log_info("%s: gateway up, %zu forwards", d->name, d->cfg.nforwards);
	return 0;
}

int daemon_start(struct daemon *d, const char *path)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->path = path;
	ret = daemon_name_of(path, d->name);
	if (!ret)
		ret = daemon_load(path, &d->cfg, true);
	if (ret < 0)
		return ret;
	if (!d->cfg.has_interface && !d->cfg.nforwards) {
		fprintf(stderr, "%s: neither [Interface] nor [Forward]: nothing to run\n", path);
		ret = -EINVAL;
		goto err;
	}
	ret = d->cfg.has_interface ? start_tunnel(d) : start_loop(d);
	if (!ret)
		ret = start_gateway(d);
	if (!ret)
		return 0;
err:
	daemon_stop(d);
	return ret;
}

int daemon_run(struct daemon *d)
{
	if (d->tunnel)
		return tunnel_run(d->tunnel);
	return loop_run(d->loop) < 0 ? 1 : 0;
}

void daemon_stop(struct daemon *d)
{
	gateway_close(d->gw);
	d->gw = NULL;
	if (d->tunnel) {
		netconf_down(&d->tunnel->nl, &d->netconf);
		tunnel_close(d->tunnel);
		free(d->tunnel);
		d->tunnel = NULL;
	}
	if (d->own_loop_ready)
		loop_free(&d->own_loop);
	d->own_loop_ready = false;
	config_free(&d->cfg);
}
