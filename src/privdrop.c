/* The order matters: the bounding set can only shrink while CAP_SETPCAP is still held, the
 * groups only change while CAP_SETGID is, and the uid goes last, with PR_SET_KEEPCAPS so that
 * the permitted set survives it; capset then raises the kept ones into the effective set. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "control.h"
#include "log.h"
#include "privdrop.h"
#include "uapi_sock.h"

enum { CAP_PROBE_MAX = 64 }; /* a capability number at or past this does not exist */

uint64_t privdrop_kept_caps(void)
{
	return 1ULL << CAP_NET_ADMIN | 1ULL << CAP_NET_BIND_SERVICE;
}

bool privdrop_wanted(uid_t euid, char *(*env)(const char *name))
{
	const char *no = env("PORTHOLE_NO_PRIVDROP");

	if (euid != 0 || env("NOTIFY_SOCKET") || env("INVOCATION_ID"))
		return false;
	return !no || !*no || !strcmp(no, "0");
}

/* Looks the user up before anything changes, so a missing one changes nothing. */
static int find(const char *user, uid_t *uid, gid_t *gid, const char **name)
{
	const char *tries[] = {user ? user : PRIVDROP_USER, user ? NULL : PRIVDROP_FALLBACK};
	struct passwd *pw = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(tries) && !pw; i++) {
		if (tries[i]) {
			*name = tries[i];
			pw = getpwnam(tries[i]);
		}
	}
	if (!pw) {
		log_err("privilege drop: no user '%s'", *name);
		return -ENOENT;
	}
	if (!pw->pw_uid) {
		log_err("privilege drop: user '%s' is root", *name);
		return -EINVAL;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int shrink_bounding_set(void)
{
	for (int cap = 0; cap < CAP_PROBE_MAX; cap++) {
		if (privdrop_kept_caps() & 1ULL << cap)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			/* EINVAL: past the last capability this kernel knows. */
			if (errno == EINVAL)
				break;
			return -errno;
		}
	}
	return 0;
}

static int switch_ids(uid_t uid, gid_t gid)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ? -errno : 0;
}

/* glibc has no capset(); the raw system call avoids needing libcap. */
static int set_caps(uint64_t caps)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {0};

	data[0].effective = data[0].permitted = (uint32_t)caps;
	data[1].effective = data[1].permitted = (uint32_t)(caps >> 32);
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int privdrop_to(const char *user)
{
	const char *name = NULL, *what = "looking up the user";
	uid_t uid;
	gid_t gid;
	int ret = find(user, &uid, &gid, &name);

	if (ret < 0)
		return ret;
	what = "shrinking the capability bounding set";
	ret = shrink_bounding_set();
	if (!ret) {
		what = "changing user";
		ret = switch_ids(uid, gid);
	}
	if (!ret) {
		what = "setting capabilities";
		ret = set_caps(privdrop_kept_caps());
	}
	if (!ret) {
		what = "setting no_new_privs";
		ret = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
	}
	/* Paranoia, as in relayd: if root can be had back, the drop did not happen. */
	if (!ret && (setuid(0) == 0 || setgid(0) == 0)) {
		what = "verifying";
		ret = -EPERM;
	}
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "privilege drop to '%s': %s", name, what);
		return ret;
	}
	log_info("running as user '%s' (uid %u), keeping CAP_NET_ADMIN and CAP_NET_BIND_SERVICE",
		 name, (unsigned int)uid);
	return 0;
}

/* A socket nobody listens on any more; a new daemon's live one is left alone. */
static bool stale(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	bool refused;
	int fd;

	if (lstat(path, &st) || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sun.sun_path))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	strcpy(sun.sun_path, path);
	refused = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return refused;
}

/* Holds no descriptor of the daemon's: the TUN device and the sockets must go with it. */
static NORETURN void janitor(int fd, const char *name)
{
	const char *dirs[] = {UAPI_SOCK_DIR, CONTROL_DIR};
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)], c;

	close_range(3, (unsigned int)fd - 1, 0);
	close_range((unsigned int)fd + 1, ~0U, 0);
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(sock, sizeof(sock), "%s/%s.sock", dirs[i], name);
		if (stale(sock))
			unlink(sock);
	}
	_exit(0);
}

static int fork_janitor(struct privdrop *pd, const char *name)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pd->janitor = fork();
	if (pd->janitor < 0) {
		pd->janitor = 0;
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pd->janitor == 0)
		janitor(fds[0], name);
	close(fds[0]);
	pd->fd = fds[1];
	return 0;
}

int privdrop_daemon(struct privdrop *pd, const char *path, const char *name)
{
	const char *user = getenv("PORTHOLE_USER");
	int ret;

	if (!privdrop_wanted(geteuid(), getenv))
		return 0;
	ret = fork_janitor(pd, name);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "privilege drop: cannot start the janitor process");
		return ret;
	}
	ret = privdrop_to(user && *user ? user : NULL);
	if (!ret && access(path, R_OK) < 0)
		log_warn("%s: unreadable as the unprivileged user (%s): reload will fail; make it "
			 "root:%s 0640, or set PORTHOLE_NO_PRIVDROP=1",
			 path, strerror(errno), PRIVDROP_USER);
	return ret;
}

void privdrop_finish(struct privdrop *pd)
{
	if (!pd->janitor)
		return;
	close(pd->fd);
	while (waitpid(pd->janitor, NULL, 0) < 0 && errno == EINTR)
		;
	pd->janitor = 0;
}
