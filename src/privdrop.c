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

/* The janitor's answer to a read request: status (0 or -errno), length, then the bytes. */
struct read_reply {
	int32_t status;
	uint32_t len;
};

/* All of len bytes through the socket pair, either way, riding out EINTR. */
static bool transfer(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads the one file the daemon was started with, whatever the daemon asks. */
static void serve_read(int fd, const char *path)
{
	static char buf[PRIVDROP_CONFIG_MAX];
	struct read_reply r = {0, 0};
	int f = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (f < 0)
		r.status = -errno;
	while (f >= 0 && r.len < sizeof(buf)) {
		n = read(f, buf + r.len, sizeof(buf) - r.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r.len += (uint32_t)n;
	}
	if (f >= 0 && n < 0)
		r.status = -errno;
	else if (r.len == sizeof(buf))
		r.status = -EFBIG;
	if (f >= 0)
		close(f);
	if (r.status)
		r.len = 0;
	if (transfer(fd, &r, sizeof(r), true))
		transfer(fd, buf, r.len, true);
	explicit_bzero(buf, r.len);
}

/* Holds no descriptor of the daemon's: the TUN device and the sockets must go with it. */
static NORETURN void janitor(int fd, const char *name, const char *path)
{
	const char *dirs[] = {UAPI_SOCK_DIR, CONTROL_DIR};
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)], c;
	ssize_t n;

	close_range(3, (unsigned int)fd - 1, 0);
	close_range((unsigned int)fd + 1, ~0U, 0);
	while ((n = read(fd, &c, 1)) > 0 || (n < 0 && errno == EINTR)) {
		if (n > 0 && c == 'R')
			serve_read(fd, path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(sock, sizeof(sock), "%s/%s.sock", dirs[i], name);
		if (stale(sock))
			unlink(sock);
	}
	_exit(0);
}

static int fork_janitor(struct privdrop *pd, const char *name, const char *path)
{
	int fds[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	pd->janitor = fork();
	if (pd->janitor < 0) {
		pd->janitor = 0;
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pd->janitor == 0)
		janitor(fds[0], name, path);
	close(fds[0]);
	pd->fd = fds[1];
	return 0;
}

int privdrop_read_config(struct privdrop *pd, char **text, size_t *len)
{
	struct timeval tv = {.tv_sec = 5};
	struct read_reply r;
	char *buf;

	if (!pd->janitor)
		return -ENOSYS;
	/* A janitor that does not answer must not hang the daemon's loop for good. */
	setsockopt(pd->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!transfer(pd->fd, (char[]){'R'}, 1, true) || !transfer(pd->fd, &r, sizeof(r), false))
		return -EIO;
	if (r.status)
		return r.status < 0 ? r.status : -EIO;
	if (r.len >= PRIVDROP_CONFIG_MAX)
		return -EFBIG;
	buf = malloc((size_t)r.len + 1);
	if (!buf)
		return -ENOMEM;
	if (!transfer(pd->fd, buf, r.len, false)) {
		free(buf);
		return -EIO;
	}
	buf[r.len] = '\0';
	*text = buf;
	*len = r.len;
	return 0;
}

int privdrop_daemon(struct privdrop *pd, const char *path, const char *name)
{
	const char *user = getenv("PORTHOLE_USER");
	int ret;

	if (!privdrop_wanted(geteuid(), getenv))
		return 0;
	ret = fork_janitor(pd, name, path);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "privilege drop: cannot start the janitor process");
		return ret;
	}
	return privdrop_to(user && *user ? user : NULL);
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
