/* porthole demo: the whole path of a public request, on one machine. Three network namespaces
 * stand for a client on the internet, the VPS and the home server; the VPS and home run this
 * same binary (`porthole up`) from files `porthole init` wrote, home runs a small HTTP service
 * that reads the PROXY v2 header, and the client asks it who it is. Everything is torn down
 * at the end, on errors and on Ctrl-C too. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "crypto.h"
#include "demo_http.h"
#include "init.h"
#include "netlink.h"
#include "netns.h"
#include "subcommands.h"
#include "uapi_sock.h"

enum {
	DEMO_PORT = 8080,
	DEMO_READY_MS = 10000,	 /* a daemon's configuration socket appears */
	DEMO_REQUEST_MS = 15000, /* the first handshake and the first answer */
	DEMO_IO_MS = 3000,	 /* one attempt's connect, send and receive */
	DEMO_STOP_MS = 5000,	 /* SIGTERM, then SIGKILL */
	DEMO_RESPONSE_MAX = 1024,
};

enum demo_role { CLIENT, VPS, HOME, ROLES };
static const char *const role_name[ROLES] = {"client", "vps", "home"};

/* The two wires: each end is called eth-<other role>. */
static const struct demo_link {
	enum demo_role a, b;
	const char *addr_a, *addr_b;
} links[] = {
    {CLIENT, VPS, "198.51.100.2", "198.51.100.1"},
    {VPS, HOME, "192.0.2.1", "192.0.2.2"},
};

struct demo {
	char dir[64];
	char endpoint[16];
	struct init_plan plan;
	struct netns ns[ROLES];
	char ifname[ROLES][IFNAMSIZ]; /* the daemons' (vps and home) */
	pid_t daemon[ROLES];
	pid_t service;
	int report[2]; /* the service's demo_http_seen records */
	struct sockaddr_storage client;
	struct demo_http_seen seen;
	char answer[DEMO_RESPONSE_MAX];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int signo)
{
	interrupted = signo;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = {.tv_nsec = 50 * 1000000};

	nanosleep(&ts, NULL);
}

static int write_configs(struct demo *d)
{
	char name[IFNAMSIZ + 8];
	int ret;

	snprintf(d->dir, sizeof(d->dir), "/tmp/porthole-demo-%d.XXXXXX", (int)getpid());
	if (!mkdtemp(d->dir)) {
		d->dir[0] = '\0';
		return -errno;
	}
	/* The daemons' saved peer endpoints go with these files, which teardown removes. */
	setenv("PORTHOLE_STATE_DIR", d->dir, 1);
	snprintf(d->endpoint, sizeof(d->endpoint), "%s", links[1].addr_a);
	ret = init_parse_endpoint(&d->plan, d->endpoint);
	if (!ret)
		ret = init_parse_forward(&d->plan, "8080");
	if (!ret)
		ret = init_make_secrets(&d->plan);
	if (ret)
		return ret;
	/* The configuration sockets live in one directory for every namespace: unique names. */
	snprintf(d->ifname[VPS], IFNAMSIZ, "pd%dvps", (int)getpid());
	snprintf(d->ifname[HOME], IFNAMSIZ, "pd%dhome", (int)getpid());
	snprintf(name, sizeof(name), "%s.conf", d->ifname[VPS]);
	ret = init_create(d->dir, name, init_write_gateway, &d->plan);
	snprintf(name, sizeof(name), "%s.conf", d->ifname[HOME]);
	return ret ? ret : init_create(d->dir, name, init_write_home, &d->plan);
}

static int make_namespaces(struct demo *d)
{
	char name[NETNS_NAME_MAX];
	int ret = 0;

	for (int i = 0; i < ROLES && !ret; i++) {
		snprintf(name, sizeof(name), "porthole-demo-%d-%s", (int)getpid(), role_name[i]);
		ret = netns_add(&d->ns[i], name);
	}
	return ret;
}

struct addr_args {
	char ifname[IFNAMSIZ];
	const char *addr;
};

/* Inside the namespace: the address (a /24) and the link up. */
static int configure(void *arg)
{
	const struct addr_args *a = arg;
	struct in_addr in;
	struct nl nl;
	int ifindex, ret = nl_open(&nl);

	if (ret)
		return ret;
	inet_pton(AF_INET, a->addr, &in);
	ret = ifindex = nl_link_index(&nl, a->ifname);
	if (ifindex > 0)
		ret = nl_addr_add(&nl, ifindex, AF_INET, &in, 24);
	if (!ret)
		ret = nl_link_set_up(&nl, ifindex, true);
	nl_close(&nl);
	return ret;
}

static int make_link(struct demo *d, struct nl *nl, const struct demo_link *l)
{
	struct addr_args a, b;
	int ret;

	snprintf(a.ifname, IFNAMSIZ, "eth-%s", role_name[l->b]);
	snprintf(b.ifname, IFNAMSIZ, "eth-%s", role_name[l->a]);
	a.addr = l->addr_a;
	b.addr = l->addr_b;
	ret = nl_veth_add(nl, a.ifname, d->ns[l->a].fd, b.ifname, d->ns[l->b].fd);
	if (!ret)
		ret = netns_call(&d->ns[l->a], configure, &a);
	return ret ? ret : netns_call(&d->ns[l->b], configure, &b);
}

static int make_links(struct demo *d)
{
	struct nl nl;
	int ret = nl_open(&nl);

	for (size_t i = 0; i < ARRAY_SIZE(links) && !ret; i++)
		ret = make_link(d, &nl, &links[i]);
	nl_close(&nl);
	return ret;
}

/* A child that dies with the demo, even when the demo is killed outright. */
static pid_t spawn(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid)
		return pid;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(1); /* the demo is already gone */
	return 0;
}

/* Bound with IP_FREEBIND: the tunnel address comes with the home daemon, after this. */
static int service_socket(struct demo *d)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(DEMO_PORT)};
	int one = 1;
	int fd = netns_socket(&d->ns[HOME], AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return fd;
	init_tunnel_addr(&d->plan, 2, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 16)) {
		one = -errno;
		close(fd);
		return one;
	}
	return fd;
}

static int start_service(struct demo *d)
{
	int fd = service_socket(d);

	if (fd < 0)
		return fd;
	if (pipe2(d->report, O_CLOEXEC)) {
		close(fd);
		return -errno;
	}
	d->service = spawn();
	if (!d->service) {
		close(d->report[0]);
		demo_http_serve(fd, d->report[1]);
	}
	close(fd);
	close(d->report[1]);
	d->report[1] = -1;
	return d->service < 0 ? -errno : 0;
}

static void daemon_child(const struct demo *d, enum demo_role r)
{
	char conf[128], log[128];
	int fd;

	snprintf(conf, sizeof(conf), "%s/%s.conf", d->dir, d->ifname[r]);
	snprintf(log, sizeof(log), "%s/%s.log", d->dir, d->ifname[r]);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
		_exit(126);
	if (netns_enter(&d->ns[r]))
		_exit(126);
	execl("/proc/self/exe", prog_name, "up", conf, (char *)NULL);
	_exit(127);
}

static bool socket_there(const char *ifname)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.sock", UAPI_SOCK_DIR, ifname);
	return !stat(path, &st) && S_ISSOCK(st.st_mode);
}

static int start_daemon(struct demo *d, enum demo_role r)
{
	uint64_t deadline = now_ms() + DEMO_READY_MS;

	d->daemon[r] = spawn();
	if (!d->daemon[r])
		daemon_child(d, r);
	if (d->daemon[r] < 0)
		return -errno;
	while (!socket_there(d->ifname[r])) {
		if (waitpid(d->daemon[r], NULL, WNOHANG) == d->daemon[r]) {
			d->daemon[r] = 0;
			return -ECHILD;
		}
		if (interrupted)
			return -EINTR;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		nap();
	}
	return 0;
}

static int start_vps(struct demo *d)
{
	return start_daemon(d, VPS);
}

static int start_home(struct demo *d)
{
	return start_daemon(d, HOME);
}

static int client_socket(struct demo *d)
{
	struct timeval tv = {.tv_sec = DEMO_IO_MS / 1000};
	int fd = netns_socket(&d->ns[CLIENT], AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

/* Reads the whole response; 0 when it is an answer with a body. */
static int receive(int fd, char *out, size_t cap)
{
	size_t have = 0;
	ssize_t n;
	char *body;

	while (have < cap - 1 && (n = read(fd, out + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	body = strstr(out, "\r\n\r\n");
	if (strncmp(out, "HTTP/1.0 200", 12) || !body)
		return have ? -EPROTO : -ECONNRESET;
	memmove(out, body + 4, strlen(body + 4) + 1);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int attempt(struct demo *d)
{
	static const char get[] = "GET / HTTP/1.0\r\nHost: 198.51.100.1:8080\r\n"
				  "User-Agent: porthole-demo\r\n\r\n";
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(DEMO_PORT)};
	socklen_t len = sizeof(d->client);
	int fd = client_socket(d);
	int ret;

	if (fd < 0)
		return fd;
	inet_pton(AF_INET, links[0].addr_b, &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(fd, (struct sockaddr *)&d->client, &len) ||
	    write(fd, get, sizeof(get) - 1) != (ssize_t)sizeof(get) - 1)
		ret = -errno;
	else
		ret = receive(fd, d->answer, sizeof(d->answer));
	close(fd);
	return ret;
}

static bool same_client(const struct demo *d, const struct demo_http_seen *s)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&d->client;
	const struct sockaddr_in *b = (const struct sockaddr_in *)&s->client;

	return s->client.ss_family == AF_INET && a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

/* The service's record of our connection; earlier attempts may have left theirs first. */
static int read_report(struct demo *d)
{
	struct pollfd pfd = {.fd = d->report[0], .events = POLLIN};
	struct demo_http_seen s;

	while (poll(&pfd, 1, DEMO_IO_MS) == 1) {
		if (read(d->report[0], &s, sizeof(s)) != (ssize_t)sizeof(s))
			return -EPIPE;
		d->seen = s;
		if (same_client(d, &s))
			return 0;
	}
	return d->seen.peer.ss_family ? -EPROTO : -ETIMEDOUT;
}

static int request(struct demo *d)
{
	uint64_t deadline = now_ms() + DEMO_REQUEST_MS;
	int ret;

	/* The first attempts may meet a tunnel still shaking hands. */
	while ((ret = attempt(d)) && !interrupted && now_ms() < deadline) {
		for (int i = 0; i < 4 && !interrupted; i++)
			nap();
	}
	if (interrupted)
		return -EINTR;
	return ret ? ret : read_report(d);
}

static const struct step {
	const char *what;
	int (*fn)(struct demo *d);
} steps[] = {
    {"writing the configuration files", write_configs},
    {"creating the network namespaces", make_namespaces},
    {"connecting the namespaces", make_links},
    {"starting the home HTTP service", start_service},
    {"starting porthole on the vps", start_vps},
    {"starting porthole at home", start_home},
    {"sending the request", request},
};

static void print_setup(const struct demo *d)
{
	char tun[2][INET_ADDRSTRLEN];
	struct in_addr in;

	for (uint8_t i = 0; i < 2; i++) {
		init_tunnel_addr(&d->plan, i + 1, &in);
		inet_ntop(AF_INET, &in, tun[i], sizeof(tun[i]));
	}
	printf("porthole demo: a client, a VPS and a home server, each in a network namespace\n"
	       "  %-28s 198.51.100.2 on eth-vps\n"
	       "  %-28s 198.51.100.1 on eth-client (public), 192.0.2.1 on eth-home\n"
	       "  %-28s 192.0.2.2 on eth-vps (no public address)\n"
	       "  configuration: `porthole init --endpoint 192.0.2.1 --forward 8080` in %s\n"
	       "  vps:  porthole up %s.conf   tunnel %s, public TCP port %d -> %s:%d\n"
	       "  home: porthole up %s.conf  tunnel %s, HTTP service on %s:%d\n\n",
	       d->ns[CLIENT].name, d->ns[VPS].name, d->ns[HOME].name, d->dir, d->ifname[VPS],
	       tun[0], DEMO_PORT, tun[1], DEMO_PORT, d->ifname[HOME], tun[1], tun[1], DEMO_PORT);
}

static void print_hops(const struct demo *d)
{
	char client[64], peer[64], to[64], home[INET_ADDRSTRLEN];
	struct in_addr in;

	init_tunnel_addr(&d->plan, 2, &in);
	inet_ntop(AF_INET, &in, home, sizeof(home));
	demo_http_addr_str(&d->client, client, sizeof(client));
	demo_http_addr_str(&d->seen.peer, peer, sizeof(peer));
	demo_http_addr_str(&d->seen.to, to, sizeof(to));
	printf("1. client  %s connects to the VPS's public port 198.51.100.1:%d, sends GET /\n"
	       "2. vps     the gateway accepts it and opens a connection through the tunnel,\n"
	       "           %s -> %s:%d, with a PROXY v2 header first\n"
	       "3. tunnel  WireGuard carries it, encrypted, from 192.0.2.1:%u to 192.0.2.2\n"
	       "4. home    the service reads the PROXY header: client %s, to %s\n"
	       "5. client  the answer: %s\n\n",
	       client, DEMO_PORT, peer, home, DEMO_PORT, d->plan.port,
	       d->seen.proxied ? client : "(none)", to, d->answer);
	if (d->seen.proxied)
		printf("The home service saw the client's real address, %s.\n", client);
}

static void print_logs(const struct demo *d)
{
	char path[128], line[512];
	FILE *f;

	for (int r = VPS; r <= HOME; r++) {
		snprintf(path, sizeof(path), "%s/%s.log", d->dir, d->ifname[r]);
		f = d->dir[0] ? fopen(path, "r") : NULL;
		if (!f)
			continue;
		fprintf(stderr, "--- porthole up on the %s:\n", role_name[r]);
		while (fgets(line, sizeof(line), f))
			fprintf(stderr, "    %s", line);
		fclose(f);
	}
}

static void stop(pid_t *pid)
{
	uint64_t deadline = now_ms() + DEMO_STOP_MS;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (waitpid(*pid, NULL, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(*pid, SIGKILL);
			waitpid(*pid, NULL, 0);
			break;
		}
		nap();
	}
	*pid = 0;
}

static void remove_dir(const char *dir)
{
	DIR *dp = dir[0] ? opendir(dir) : NULL;
	struct dirent *e;

	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(dp), e->d_name, 0);
	}
	closedir(dp);
	rmdir(dir);
}

/* Daemons first, so that they remove their interfaces and sockets themselves. */
static void teardown(struct demo *d)
{
	stop(&d->daemon[HOME]);
	stop(&d->daemon[VPS]);
	stop(&d->service);
	for (int i = 0; i < 2; i++) {
		if (d->report[i] >= 0)
			close(d->report[i]);
	}
	for (int i = 0; i < ROLES; i++)
		netns_del(&d->ns[i]);
	remove_dir(d->dir);
}

/* After success with --wait: until Ctrl-C, for a look around with ip netns exec. */
static void hold(const struct demo *d)
{
	sigset_t block, old;

	printf("\nThe demo stays up until Ctrl-C. Try:\n"
	       "  ip netns exec %s curl http://198.51.100.1:%d/\n",
	       d->ns[CLIENT].name, DEMO_PORT);
	fflush(stdout);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!interrupted)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static int run(struct demo *d)
{
	int ret = 0;

	for (size_t i = 0; i < ARRAY_SIZE(steps) && !ret; i++) {
		if (steps[i].fn == start_vps)
			print_setup(d);
		ret = interrupted ? -EINTR : steps[i].fn(d);
		if (ret == -EINTR)
			fprintf(stderr, "porthole demo: interrupted while %s\n", steps[i].what);
		else if (ret)
			fprintf(stderr, "porthole demo: %s: %s\n", steps[i].what, strerror(-ret));
	}
	return ret;
}

static void handle_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	/* No SA_RESTART: a blocked connect or read must return to notice Ctrl-C. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: %s demo [--wait]\n"
		"Runs a client, a VPS and a home server in three network namespaces and sends\n"
		"one request through porthole from the client to the home server (root only).\n"
		"With --wait it stays up until Ctrl-C.\n",
		prog_name);
}

int demo_main(int argc, char *argv[])
{
	static const struct option opts[] = {
	    {"wait", no_argument, NULL, 'w'}, {"help", no_argument, NULL, 'h'}, {0}};
	struct demo d = {.report = {-1, -1}};
	bool wait = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "wh", opts, NULL)) != -1) {
		if (c != 'w') {
			usage();
			return c == 'h' ? 0 : 1;
		}
		wait = true;
	}
	if (optind != argc) {
		usage();
		return 1;
	}
	if (geteuid()) {
		fprintf(stderr, "%s demo: needs root, for network namespaces\n", prog_name);
		return 1;
	}
	handle_signals();
	ret = run(&d);
	if (!ret)
		print_hops(&d);
	else if (ret != -EINTR)
		print_logs(&d);
	if (!ret && wait)
		hold(&d);
	printf("%sTearing down: processes, namespaces, %s\n", ret ? "" : "\n", d.dir);
	fflush(stdout);
	teardown(&d);
	crypto_wipe(&d.plan, sizeof(d.plan));
	if (ret == -EINTR)
		return 130;
	return ret || !d.seen.proxied ? 1 : 0;
}
