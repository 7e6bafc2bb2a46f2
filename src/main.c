/* porthole: userspace WireGuard and a layer-4 gateway in one program.
 * The first argument names a subcommand; invoked as "porthole-wg" the program is a drop-in for
 * wireguard-go instead. */
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include "crypto.h"
#include "log.h"
#include "subcommands.h"
#include "version.h"

const char *prog_name;

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "init", init_main, "Writes a matched gateway.conf and home.conf" },
	{ "demo", demo_main, "Shows a request through porthole in network namespaces (root)" },
	{ "up", up_main, "Runs a tunnel from a configuration file, in the foreground" },
	{ "show", show_main, "Shows running daemons: peers, handshakes, forwards, counters" },
	{ "reload", reload_main, "Makes a running daemon re-read its configuration file" },
	{ "check", check_main, "Validates a configuration file" },
	{ "genkey", genkey_main, "Generates a new private key and writes it to stdout" },
	{ "genpsk", genpsk_main, "Generates a new preshared key and writes it to stdout" },
	{ "pubkey", pubkey_main, "Reads a private key from stdin and writes a public key to stdout" },
	{ "version", version_main, "Shows the current version" },
};

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: %s <cmd> [<args>]\n\nAvailable subcommands:\n", prog_name);
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		fprintf(f, "  %-9s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(f, "You may pass `--help' to any of these subcommands to view usage.\n");
}

int version_main(int argc, char *argv[])
{
	printf("porthole v%s\n", PORTHOLE_VERSION);
	return 0;
}

int main(int argc, char *argv[])
{
	prog_name = argv[0];
	log_level_from_env();
	if (crypto_init() < 0) {
		fprintf(stderr, "%s: cannot initialise libcrypto\n", prog_name);
		return 1;
	}
	/* Installed as a link named porthole-wg, it is a drop-in for wireguard-go. */
	if (!strcmp(basename(argv[0]), "porthole-wg"))
		return wg_go_main(argc, argv);
	if (argc < 2) {
		show_usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		show_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))
		return version_main(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++) {
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "Invalid subcommand: `%s'\n", argv[1]);
	show_usage(stderr);
	return 1;
}
