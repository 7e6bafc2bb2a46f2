/* `porthole reload NAME`: asks the running daemon to re-read its file, and says how it went.
 * Unlike a bare SIGHUP, the answer carries the reason a file was refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "control.h"
#include "daemon.h"
#include "subcommands.h"

static int usage(FILE *f, int status)
{
	fprintf(f, "Usage: %s reload <name | /etc/porthole/name.conf>\n", prog_name);
	return status;
}

/* The daemon's answer is "ok" or "error: MESSAGE", one line. */
static int report(const char *name, const char *reply)
{
	if (!strcmp(reply, "ok\n")) {
		printf("%s: reloaded\n", name);
		return 0;
	}
	fprintf(stderr, "%s: %s%s", name, reply,
		*reply && reply[strlen(reply) - 1] == '\n' ? "" : "\n");
	return 1;
}

int reload_main(int argc, char *argv[])
{
	char name[IFNAMSIZ], *reply = NULL;
	size_t len = 0;
	FILE *f;
	int ret, status = 1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout, 0);
	if (argc != 2)
		return usage(stderr, 1);
	if (daemon_name_of(argv[1], name) < 0)
		return 1;
	f = open_memstream(&reply, &len);
	if (!f) {
		perror("open_memstream");
		return 1;
	}
	ret = control_request(name, "reload\n", f);
	fclose(f);
	if (ret == -ENOENT || ret == -ECONNREFUSED)
		fprintf(stderr, "%s: no porthole daemon named '%s' is running\n", prog_name, name);
	else if (ret < 0)
		fprintf(stderr, "%s: %s: %s\n", prog_name, name, strerror(-ret));
	else
		status = report(name, reply);
	free(reply);
	return status;
}
