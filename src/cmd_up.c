/* porthole up FILE: a tunnel and the gateway's [Forward]s from one wg-quick style file, in the
 * foreground; a file with only [Forward]s runs the gateway alone, as a plain forwarder beside
 * kernel WireGuard. porthole check FILE: the same file's validation alone. */
#include <stdio.h>
#include "daemon.h"
#include "subcommands.h"

int check_main(int argc, char *argv[])
{
	struct porthole_config cfg = { 0 };

	if (argc != 2) {
		fprintf(stderr, "Usage: %s %s FILE\n", prog_name, argv[0]);
		return 1;
	}
	if (daemon_load(argv[1], &cfg, false) < 0)
		return 1;
	printf("%s: ok (%zu peers, %zu forwards)\n", argv[1], cfg.iface.npeers, cfg.nforwards);
	config_free(&cfg);
	return 0;
}

int up_main(int argc, char *argv[])
{
	static struct daemon d;
	int ret;

	if (argc != 2) {
		fprintf(stderr, "Usage: %s %s FILE\n", prog_name, argv[0]);
		return 1;
	}
	if (daemon_start(&d, argv[1]) < 0)
		return 1;
	ret = daemon_run(&d);
	daemon_stop(&d);
	return ret;
}
