/* `porthole show [NAME] [--json]`: what running daemons report on their control sockets.
 * Without NAME every daemon in CONTROL_DIR is shown, in name order; with --json that is always
 * an array of status documents (status.h), with NAME a single document. */
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "control.h"
#include "daemon.h"
#include "subcommands.h"

static int usage(FILE *f, int status)
{
	fprintf(f, "Usage: %s show [<name | /etc/porthole/name.conf>] [--json]\n", prog_name);
	return status;
}

/* The daemon's reply in *reply (malloc'ed): 0, or -errno with a message printed unless quiet. */
static int ask(const char *name, bool json, char **reply, bool quiet)
{
	size_t len = 0;
	FILE *f = open_memstream(reply, &len);
	int ret;

	if (!f)
		return -errno;
	ret = control_request(name, json ? "show\n" : "text\n", f);
	fclose(f);
	if (!ret && !strncmp(*reply, "error: ", 7)) {
		fprintf(stderr, "%s: %s", name, *reply);
		ret = -EIO;
	} else if ((ret == -ENOENT || ret == -ECONNREFUSED) && !quiet) {
		fprintf(stderr, "%s: no porthole daemon named '%s' is running\n", prog_name, name);
	} else if (ret < 0 && !quiet) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, name, strerror(-ret));
	}
	if (ret < 0) {
		free(*reply);
		*reply = NULL;
	}
	return ret;
}

static int show_one(const char *name, bool json)
{
	char *reply = NULL;

	if (ask(name, json, &reply, false) < 0)
		return 1;
	fputs(reply, stdout);
	free(reply);
	return 0;
}

/* A socket nobody answers on was left by a daemon that could not remove it: not shown. */
static int show_all(bool json)
{
	glob_t g;
	int status = 0;
	size_t shown = 0;
	char *reply = NULL, name[4096], *dot;

	if (glob(CONTROL_DIR "/*.sock", 0, NULL, &g))
		g.gl_pathc = 0;
	if (json)
		fputs("[\n", stdout);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		snprintf(name, sizeof(name), "%s", basename(g.gl_pathv[i]));
		dot = strrchr(name, '.');
		*dot = '\0';
		int ret = ask(name, json, &reply, true);

		if (ret == -ENOENT || ret == -ECONNREFUSED)
			continue;
		if (ret < 0) {
			status = 1;
			continue;
		}
		if (shown++)
			fputs(json ? ",\n" : "\n", stdout);
		fputs(reply, stdout);
		free(reply);
	}
	if (json)
		fputs("]\n", stdout);
	if (g.gl_pathc)
		globfree(&g);
	return status;
}

int show_main(int argc, char *argv[])
{
	const char *target = NULL;
	char name[IFNAMSIZ];
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return usage(stdout, 0);
		else if (argv[i][0] == '-' || target)
			return usage(stderr, 1);
		else
			target = argv[i];
	}
	if (!target)
		return show_all(json);
	if (daemon_name_of(target, name) < 0)
		return 1;
	return show_one(name, json);
}
