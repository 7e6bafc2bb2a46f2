/* porthole init: a matched pair of configuration files, gateway.conf for the VPS and home.conf
 * for the home device, with fresh keys, a pre-shared key and a tunnel subnet unlikely to clash
 * with a home network. Never overwrites a file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "crypto.h"
#include "encoding.h"
#include "init.h"
#include "subcommands.h"

static void usage(void)
{
	fprintf(stderr,
		"Usage: %s init --endpoint HOST[:PORT] [--forward PORT[/udp] ...] [--dir DIR]\n"
		"Writes DIR/gateway.conf (for the VPS) and DIR/home.conf (for the home device).\n",
		prog_name);
}

static bool exists(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !access(path, F_OK);
}

static void next_steps(const struct init_plan *p)
{
	printf("Wrote %s/gateway.conf and %s/home.conf (mode 0600).\n\nNext steps:\n"
	       "  1. On the VPS (%s): install gateway.conf as /etc/porthole/gateway.conf and run\n"
	       "       systemctl enable --now porthole@gateway   (or: porthole up gateway.conf)\n"
	       "     and allow UDP port %u in its firewall.\n"
	       "  2. Copy home.conf to the home device over a safe channel (it holds a private\n"
	       "     key), as /etc/porthole/home.conf, and run\n"
	       "       systemctl enable --now porthole@home   (or: porthole up home.conf)\n"
	       "  3. Make the home services accept the PROXY v2 header from 10.%u.%u.1.\n",
	       p->dir, p->dir, p->endpoint, p->port, p->a, p->b);
}

int init_main(int argc, char *argv[])
{
	static const struct option opts[] = {{"endpoint", required_argument, NULL, 'e'},
					     {"forward", required_argument, NULL, 'f'},
					     {"dir", required_argument, NULL, 'd'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	struct init_plan p = {.dir = "."};
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "e:f:d:h", opts, NULL)) != -1) {
		if (c == 'e' && !init_parse_endpoint(&p, optarg))
			continue;
		if (c == 'f' && !init_parse_forward(&p, optarg))
			continue;
		if (c == 'd') {
			p.dir = optarg;
			continue;
		}
		if (c == 'e' || c == 'f')
			fprintf(stderr, "%s init: invalid --%s '%s'\n", prog_name,
				c == 'e' ? "endpoint" : "forward", optarg);
		usage();
		return c == 'h' ? 0 : 1;
	}
	if (!p.endpoint || optind != argc) {
		usage();
		return 1;
	}
	if (exists(p.dir, "gateway.conf") || exists(p.dir, "home.conf")) {
		fprintf(stderr,
			"%s init: %s already holds gateway.conf or home.conf; "
			"porthole init never overwrites a file\n",
			prog_name, p.dir);
		return 1;
	}
	if (init_make_secrets(&p) < 0)
		goto out;
	if (init_create(p.dir, "gateway.conf", init_write_gateway, &p) < 0 ||
	    init_create(p.dir, "home.conf", init_write_home, &p) < 0)
		goto out;
	next_steps(&p);
	ret = 0;
out:
	crypto_wipe(&p, sizeof(p));
	return ret;
}
