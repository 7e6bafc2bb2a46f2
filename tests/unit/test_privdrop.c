/* Privilege drop: when it applies, and (as root) the real thing in a child process: the
 * unprivileged uid, exactly CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, and no way back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "privdrop.h"

static const char *fake[8][2];

static char *fake_env(const char *name)
{
	for (size_t i = 0; i < 8 && fake[i][0]; i++) {
		if (!strcmp(fake[i][0], name))
			return (char *)fake[i][1];
	}
	return NULL;
}

static bool wanted(uid_t euid, const char *k1, const char *v1)
{
	memset(fake, 0, sizeof(fake));
	fake[0][0] = k1;
	fake[0][1] = v1;
	return privdrop_wanted(euid, fake_env);
}

static void test_wanted(void)
{
	CHECK(wanted(0, NULL, NULL));
	CHECK(!wanted(1000, NULL, NULL));
	CHECK(!wanted(0, "NOTIFY_SOCKET", "/run/systemd/notify"));
	CHECK(!wanted(0, "INVOCATION_ID", "0123456789abcdef"));
	CHECK(!wanted(0, "PORTHOLE_NO_PRIVDROP", "1"));
	CHECK(!wanted(0, "PORTHOLE_NO_PRIVDROP", "yes"));
	CHECK(wanted(0, "PORTHOLE_NO_PRIVDROP", "0"));
	CHECK(wanted(0, "PORTHOLE_NO_PRIVDROP", ""));
	CHECK(wanted(0, "LANG", "C"));
}

static void test_kept(void)
{
	/* CAP_NET_BIND_SERVICE = 10, CAP_NET_ADMIN = 12 (linux/capability.h) */
	CHECK(privdrop_kept_caps() == 0x1400);
}

/* The value of a "Key:\tVALUE" line of /proc/self/status, or "" */
static void status(const char *key, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t klen = strlen(key);

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			snprintf(out, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
		}
	}
	if (f)
		fclose(f);
}

/* Runs in the child; its exit status is a bit mask of failed checks. */
static int child(void)
{
	char buf[128];
	int bad = 0;

	if (privdrop_to("nobody") < 0)
		return 1;
	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
		bad |= 2;
	status("CapEff", buf, sizeof(buf));
	bad |= strcmp(buf, "0000000000001400") ? 4 : 0;
	status("CapPrm", buf, sizeof(buf));
	bad |= strcmp(buf, "0000000000001400") ? 8 : 0;
	status("CapBnd", buf, sizeof(buf));
	bad |= strcmp(buf, "0000000000001400") ? 16 : 0;
	status("NoNewPrivs", buf, sizeof(buf));
	bad |= strcmp(buf, "1") ? 32 : 0;
	if (setuid(0) == 0 || seteuid(0) == 0)
		bad |= 64;
	return bad;
}

static void test_drop(void)
{
	int st = -1;
	pid_t pid;

	if (geteuid() != 0) {
		printf("privdrop: not root, the drop itself is not tested\n");
		return;
	}
	pid = fork();
	if (pid == 0)
		_exit(child());
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (WIFEXITED(st) && WEXITSTATUS(st))
		fprintf(stderr, "child failed checks 0x%x\n", WEXITSTATUS(st));
	CHECK(privdrop_to("no-such-user-porthole-test") < 0); /* and nothing changed: */
	CHECK(geteuid() == 0);
}

int main(void)
{
	RUN(test_wanted);
	RUN(test_kept);
	RUN(test_drop);
	return check_done("privdrop");
}
