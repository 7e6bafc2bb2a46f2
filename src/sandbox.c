#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "log.h"
#include "sandbox.h"

/* Allowed with any arguments. Grouped by who needs them; found with strace -f over
 * tests/net/hardening.sh (traffic, `wg show`/`wg set`, reload, `porthole show`, DNS). */
static const int allowed[] = {
    /* the loop and its descriptors */
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_create1),
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(close),
    SCMP_SYS(fcntl),
    SCMP_SYS(lseek),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(dup),
    SCMP_SYS(dup3),
    SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    SCMP_SYS(eventfd2),
    SCMP_SYS(signalfd4),
    SCMP_SYS(pipe2),
    SCMP_SYS(splice),
    /* sockets: WireGuard's UDP, the gateway, the UAPI/control/metrics servers, netlink */
    SCMP_SYS(recvmmsg),
    SCMP_SYS(sendmmsg),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),
    SCMP_SYS(accept4),
    SCMP_SYS(accept),
    SCMP_SYS(connect),
    SCMP_SYS(bind),
    SCMP_SYS(listen),
    SCMP_SYS(shutdown),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(socketpair),
    /* the state file of peer endpoints, rewritten in place through the descriptor opened
     * before the filter (state.c) */
    SCMP_SYS(pwrite64),
    SCMP_SYS(ftruncate),
    /* teardown: UAPI and control sockets when no janitor removes them, the janitor's exit */
    SCMP_SYS(unlink),
    SCMP_SYS(wait4),
    /* time, signals, identity */
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(uname),
    /* memory (malloc, thread stacks, secmem) and threads (the DNS helper) */
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(mlock),
    SCMP_SYS(munlock),
    SCMP_SYS(futex),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getrandom),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

/* ioctls after setup: if_nametoindex() (netlink events, scope ids on reload) and the TUN. */
static const unsigned long ioctls[] = {
    SIOCGIFINDEX, SIOCGIFNAME, SIOCETHTOOL, FIONREAD, TUNGETIFF,
};

/* getaddrinfo() probes with rtnetlink and nscd's Unix socket, the gateway dials IPv4 and IPv6;
 * any other family (AF_PACKET, other netlink protocols) kills. */
static const int families[] = {AF_UNIX, AF_INET, AF_INET6};

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int n,
	       const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int add_sockets(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp cmp[2] = {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
				      SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE)};
	int ret = add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, cmp);

	for (size_t i = 0; !ret && i < ARRAY_SIZE(families); i++) {
		cmp[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]);
		ret = add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, cmp);
	}
	return ret;
}

/* Threads only: a clone without CLONE_THREAD is a fork. clone3 passes its flags in memory the
 * filter cannot read, so it fails with ENOSYS and glibc falls back to clone. */
static int add_clone(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	int ret = add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread);

	if (!ret)
		ret = add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	return ret;
}

/* Reading /etc/hosts, /etc/resolv.conf (the DNS helper) and the file itself on reload without a
 * janitor; nothing may be created, truncated or written. */
static int add_open(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp ro =
	    SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY);
	return add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &ro);
}

/* abort() and raise() signal the process itself, never another one. */
static int add_signals(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());

	return add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self);
}

static int add_rules(scmp_filter_ctx ctx)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < ARRAY_SIZE(allowed); i++)
		ret = add(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
	for (size_t i = 0; !ret && i < ARRAY_SIZE(ioctls); i++) {
		struct scmp_arg_cmp req = SCMP_A1(SCMP_CMP_EQ, ioctls[i]);

		ret = add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &req);
	}
	if (!ret)
		ret = add_sockets(ctx);
	if (!ret)
		ret = add_clone(ctx);
	if (!ret)
		ret = add_open(ctx);
	if (!ret)
		ret = add_signals(ctx);
	return ret;
}

int sandbox_install(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int ret;

	if (!ctx)
		return -ENOMEM;
	/* Every thread, including the DNS helpers started later (they inherit it). */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!ret)
		ret = add_rules(ctx);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}

bool sandbox_wanted(const char *env)
{
	return env && (!strcmp(env, "1") || !strcmp(env, "on") || !strcmp(env, "yes"));
}

int sandbox_install_if_wanted(const char *name)
{
	int ret;

	if (!sandbox_wanted(getenv("PORTHOLE_SECCOMP")))
		return 0;
	ret = sandbox_install();
	if (ret < 0)
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot install the seccomp filter", name);
	else
		log_info("%s: seccomp filter installed", name);
	return ret;
}
