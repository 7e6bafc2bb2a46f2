#include <errno.h>
#include <libgen.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "control.h"
#include "crypto.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "sandbox.h"
#include "secmem.h"

int daemon_name_of(const char *path, char name[IFNAMSIZ])
{
	char copy[4096];
	char *base, *dot;

	snprintf(copy, sizeof(copy), "%s", path);
	base = basename(copy);
	dot = strrchr(base, '.');
	if (dot && !strcmp(dot, ".conf"))
		*dot = '\0';
	if (!*base || strlen(base) >= IFNAMSIZ || strspn(base, "abcdefghijklmnopqrstuvwxyz"
							 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							 "0123456789_=+.-") != strlen(base)) {
		fprintf(stderr, "%s: the file name must give an interface name of 1 to 15 "
				"characters from [a-zA-Z0-9_=+.-]\n",
			path);
		return -EINVAL;
	}
	snprintf(name, IFNAMSIZ, "%s", base);
	return 0;
}

/* Host names in Endpoint are looked up when the file is loaded; the first answer wins. */
static int resolve_endpoints(struct porthole_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->iface.npeers; i++) {
		struct peer_config *pc = &cfg->iface.peers[i];
		struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
		char port[8];
		int ret;

		if (!pc->has_endpoint || pc->endpoint.ss_family != AF_UNSPEC)
			continue;
		snprintf(port, sizeof(port), "%u", pc->endpoint_port);
		ret = getaddrinfo(pc->endpoint_host, port, &hints, &res);
		if (ret) {
			snprintf(err, errlen, "%s:%u: cannot resolve endpoint '%s': %s", cfg->source,
				 pc->line, pc->endpoint_host, gai_strerror(ret));
			return -EHOSTUNREACH;
		}
		memcpy(&pc->endpoint, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
	}
	return 0;
}

int daemon_load(const char *path, struct porthole_config *cfg, bool resolve)
{
	char err[512];

	if (config_parse_file(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EINVAL;
	}
	if (resolve && resolve_endpoints(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		config_free(cfg);
		return -EINVAL;
	}
	return 0;
}

/* A /0 needs a mark on the device's own datagrams; the file's, else netconf's default. */
static void set_fwmark(struct interface_config *iface, uint32_t mark)
{
	if (mark && !iface->has_fwmark) {
		iface->fwmark = mark;
		iface->has_fwmark = true;
	}
}

/* The device gets the file's [Interface] and [Peer]s, then the interface its addresses, MTU
 * and routes. */
static int bring_up(struct daemon *d)
{
	struct interface_config *iface = &d->cfg.iface;
	const char *what = "configuring the device";
	uint32_t mark = netconf_fwmark(iface);
	struct tunnel *t = d->tunnel;
	int ret;

	iface->replace_peers = true;
	set_fwmark(iface, mark);
	ret = tunnel_configure(t, iface);
	if (!ret)
		ret = netconf_up(&t->nl, t->ifindex, iface, &d->netconf, &what);
	if (ret < 0)
		log_errno(LOG_LEVEL_ERR, ret, "%s: %s", t->ifname, what);
	return ret;
}

/* Saved peer endpoints (state.h): read at start, compared with the peers every STATE_CHECK_MS
 * on the loop, never from the packet path. */

static uint64_t unix_now(void)
{
	return (uint64_t)time(NULL);
}

/* The running peers that have an endpoint, into d->state.cur. */
static size_t collect_peers(struct daemon *d)
{
	static bool warned; /* one daemon per process */
	struct state_entry *cur = d->state.cur;
	size_t n = 0;

	for (struct wg_peer *peer = d->tunnel->dev.first; peer; peer = peer->next) {
		if (!peer->has_endpoint)
			continue;
		if (n == STATE_ENTRIES_MAX) {
			if (!warned)
				log_warn("%s: the endpoints of only %d peers are saved", d->name,
					 STATE_ENTRIES_MAX);
			warned = true;
			break;
		}
		cur[n] = (struct state_entry){
			.endpoint = peer->endpoint,
			.handshake = peer->last_handshake_wall / NSEC_PER_SEC,
		};
		memcpy(cur[n].public_key, peer->public_key, NOISE_PUBLIC_KEY_LEN);
		endpoint_clear_src(&cur[n].endpoint);
		n++;
	}
	return n;
}

static void save_state(struct daemon *d)
{
	if (d->state.saved)
		(void)state_save(&d->state, collect_peers(d), unix_now()); /* logged */
}

static void state_due(struct loop_timer *timer)
{
	struct daemon *d = container_of(timer, struct daemon, state_timer);

	save_state(d);
	loop_timer_arm(d->loop, timer, loop_now() + STATE_CHECK_MS * NSEC_PER_MSEC);
}

/* A peer without an Endpoint in the file (a home box behind NAT, seen from the VPS) gets the one
 * it was last seen at, and an initiation: it would otherwise go on using the session we lost
 * until its data went unanswered or its keys expired. A peer with an Endpoint keeps the file's;
 * at start every endpoint a peer has came from the file. */
static void restore_endpoints(struct daemon *d)
{
	uint64_t now = unix_now();

	for (size_t i = 0; i < d->state.nsaved; i++) {
		const struct state_entry *e = &d->state.saved[i];
		struct wg_peer *peer = peer_lookup(&d->tunnel->dev, e->public_key);
		char ep[ENDPOINT_STRLEN];

		if (!peer || peer->has_endpoint)
			continue;
		peer_set_endpoint(peer, &e->endpoint);
		log_info("%s: peer %llu: endpoint %s from %s, saved %llu s ago; initiating",
			 d->name, (unsigned long long)peer->id,
			 endpoint_to_string(&e->endpoint, ep, sizeof(ep)), d->state.path,
			 (unsigned long long)(now - MIN(now, e->written)));
		if (tunnel_greet(d->tunnel, peer) < 0)
			log_warn("%s: peer %llu: out of memory, no initiation until it sends",
				 d->name, (unsigned long long)peer->id);
	}
}

/* Before the privilege drop: the directory and the file may have to be created. */
static int start_state(struct daemon *d)
{
	int ret;

	if (state_open(&d->state, state_dir(), d->name, unix_now()) < 0)
		return 0; /* logged; the daemon runs without saved endpoints */
	restore_endpoints(d);
	ret = loop_timer_add(d->loop, &d->state_timer, state_due);
	if (ret < 0)
		return ret;
	d->state_timer_added = true;
	loop_timer_arm(d->loop, &d->state_timer, loop_now() + STATE_CHECK_MS * NSEC_PER_MSEC);
	return 0;
}

/* A last look first: an endpoint learned since the last check survives an upgrade's restart. */
static void stop_state(struct daemon *d)
{
	if (d->state_timer_added) {
		save_state(d);
		loop_timer_remove(d->loop, &d->state_timer);
		d->state_timer_added = false;
	}
	state_close(&d->state);
}

static struct daemon *hup_daemon; /* a process runs one daemon; its SIGHUP reloads it */

static void on_hup(struct loop *loop, int signo)
{
	char err[512];

	(void)loop;
	(void)signo;
	if (daemon_reload(hup_daemon, err, sizeof(err)) < 0)
		return; /* logged, and the old configuration runs on */
}

/* Registered as soon as the loop exists, before any worker thread, which inherits the mask. */
static int watch_hup(struct daemon *d)
{
	hup_daemon = d;
	return loop_signal(d->loop, SIGHUP, on_hup);
}

static int start_tunnel(struct daemon *d)
{
	int ret;

	d->tunnel = secmem_calloc(1, sizeof(*d->tunnel)); /* the device: our private key */
	if (!d->tunnel)
		return -ENOMEM;
	ret = tunnel_open(d->tunnel, d->name, true);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the interface", d->name);
		return ret;
	}
	d->loop = &d->tunnel->loop;
	ret = watch_hup(d);
	if (!ret)
		ret = bring_up(d);
	if (!ret)
		ret = start_state(d);
	if (ret < 0)
		return ret;
	log_info("%s: up, %zu peers, listening on port %u", d->name, d->cfg.iface.npeers,
		 d->tunnel->udp.port);
	return 0;
}

static void forwarder_signal(struct loop *loop, int signo)
{
	log_info("gateway: %s, shutting down", strsignal(signo));
	loop_stop(loop);
}

/* No [Interface]: the forwards get a loop of their own. */
static int start_loop(struct daemon *d)
{
	int ret = loop_init(&d->own_loop);

	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the event loop", d->name);
		return ret;
	}
	d->own_loop_ready = true;
	d->loop = &d->own_loop;
	ret = loop_signal(d->loop, SIGTERM, forwarder_signal);
	if (!ret)
		ret = loop_signal(d->loop, SIGINT, forwarder_signal);
	return ret < 0 ? ret : watch_hup(d);
}

bool daemon_gateway_threaded(void)
{
	const char *env = getenv("PORTHOLE_GATEWAY_THREAD");

	if (env && (!strcmp(env, "0") || !strcmp(env, "1")))
		return *env == '1';
	if (env && *env)
		log_warn("PORTHOLE_GATEWAY_THREAD=%s is neither 0 nor 1; using the default", env);
	/* Most of a forwarded request's cost is the kernel's TCP work in the gateway's send and
	 * receive calls; on a thread of its own it runs beside the tunnel's sealing and opening.
	 * Measured on 2 cores: see docs/design.md. On one CPU the two threads would only take
	 * turns. */
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

/* The gateway's loop: the main one, or one for a thread started after the privilege drop. */
static int gateway_loop(struct daemon *d)
{
	int ret;

	d->gw_loop = d->loop;
	if (!d->tunnel || !d->cfg.nforwards || !daemon_gateway_threaded())
		return 0;
	ret = loop_init(&d->gw_own_loop);
	if (ret < 0)
		return ret;
	d->gw_own_loop_ready = true;
	d->gw_loop = &d->gw_own_loop;
	return 0;
}

static int start_gateway(struct daemon *d)
{
	char err[512];
	int ret;

	ret = gateway_loop(d);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot create the gateway's loop", d->name);
		return ret;
	}
	if (!d->cfg.nforwards)
		return 0;
	ret = gateway_open(&d->gw, d->gw_loop, &d->cfg, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	log_info("%s: gateway up, %zu forwards%s", d->name, d->cfg.nforwards,
		 d->gw_loop != d->loop ? ", on its own thread" : "");
	return 0;
}

/* BusyPoll: the tunnel's loop and the gateway's, which carry every packet and connection. */
static void apply_busy_poll(struct daemon *d)
{
	uint64_t ns = (uint64_t)d->cfg.iface.busy_poll_us * NSEC_PER_USEC;

	loop_busy_poll(d->loop, ns);
	if (d->gw_loop != d->loop)
		loop_busy_poll(d->gw_loop, ns);
}

static void *gateway_thread(void *arg)
{
	struct daemon *d = arg;
	int ret = loop_run(d->gw_loop);

	if (ret < 0) { /* epoll itself failed: the daemon cannot go on without its gateway */
		log_errno(LOG_LEVEL_ERR, ret, "%s: the gateway's loop failed, exiting", d->name);
		loop_stop(d->loop);
	}
	return NULL;
}

/* Signals stay blocked in it (the mask is inherited): they go to the main loop's signalfd. */
static int start_gateway_thread(struct daemon *d)
{
	int ret;

	if (!d->gw_own_loop_ready)
		return 0;
	ret = -pthread_create(&d->gw_thread, NULL, gateway_thread, d);
	if (ret < 0) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot start the gateway's thread", d->name);
		return ret;
	}
	d->gw_thread_running = true;
	pthread_setname_np(d->gw_thread, "gateway");
	return 0;
}

static void stop_gateway(struct daemon *d)
{
	if (d->gw_thread_running) {
		loop_stop(d->gw_loop);
		pthread_join(d->gw_thread, NULL);
		d->gw_thread_running = false;
	}
	gateway_close(d->gw);
	d->gw = NULL;
	if (d->gw_own_loop_ready)
		loop_free(&d->gw_own_loop);
	d->gw_own_loop_ready = false;
	d->gw_loop = d->loop;
}

int daemon_start(struct daemon *d, const char *path)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->path = path;
	/* Before the file is read: no core dump may carry the keys it holds. */
	if (secmem_protect_process() < 0)
		log_warn("%s: cannot disable core dumps", path);
	ret = daemon_name_of(path, d->name);
	if (!ret)
		ret = daemon_load(path, &d->cfg, true);
	if (ret < 0)
		return ret;
	if (!d->cfg.has_interface && !d->cfg.nforwards) {
		fprintf(stderr, "%s: neither [Interface] nor [Forward]: nothing to run\n", path);
		ret = -EINVAL;
		goto err;
	}
	ret = d->cfg.has_interface ? start_tunnel(d) : start_loop(d);
	if (!ret)
		ret = start_gateway(d);
	if (!ret)
		apply_busy_poll(d);
	/* The status sockets too: /run/porthole and a MetricsListen below 1024 need root. */
	if (!ret)
		ret = metrics_open(&d->metrics, d);
	if (!ret && control_open(&d->control, d) < 0)
		d->control = NULL; /* logged; the daemon runs without `porthole show` */
	/* Everything privileged exists now: the TUN, the sockets, the netlink setup. */
	if (!ret)
		ret = privdrop_daemon(&d->privdrop, path, d->name);
	/* Threads start with the credentials of the thread that makes them: after the drop. */
	if (!ret)
		ret = start_gateway_thread(d);
	if (!ret && d->tunnel && tunnel_start_workers(d->tunnel) < 0)
		log_warn("%s: no crypto workers; the loop thread seals and opens alone", d->name);
	if (!ret)
		ret = sdnotify_watchdog_start(&d->sd, d->loop, d->gw_loop);
	if (!ret)
		ret = sandbox_install_if_wanted(d->name); /* last: nothing new to set up after it */
	if (!ret) {
		sdnotify_send("READY=1");
		return 0;
	}
err:
	daemon_stop(d);
	return ret;
}

int daemon_run(struct daemon *d)
{
	if (d->tunnel)
		return tunnel_run(d->tunnel);
	return loop_run(d->loop) < 0 ? 1 : 0;
}

void daemon_stop(struct daemon *d)
{
	sdnotify_send("STOPPING=1");
	sdnotify_watchdog_stop(&d->sd);
	control_close(d->control);
	d->control = NULL;
	metrics_close(d->metrics);
	d->metrics = NULL;
	stop_gateway(d);
	if (d->tunnel) {
		stop_state(d);
		netconf_down(&d->tunnel->nl, &d->netconf);
		tunnel_close(d->tunnel);
		secmem_free(d->tunnel);
		d->tunnel = NULL;
	}
	if (d->own_loop_ready)
		loop_free(&d->own_loop);
	d->own_loop_ready = false;
	config_free(&d->cfg);
	privdrop_finish(&d->privdrop);
}

/* The new file, resolved and with its effective fwmark, so that it compares with d->cfg. */
/* After the privilege drop the file may be root's alone: the janitor reads it for us. */
static int parse_again(struct daemon *d, struct porthole_config *cfg, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int ret = privdrop_read_config(&d->privdrop, &text, &len);

	if (ret == -ENOSYS)
		return config_parse_file(cfg, d->path, err, errlen);
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", d->path, strerror(-ret));
		return ret;
	}
	if (strlen(text) != len) {
		snprintf(err, errlen, "%s: NUL byte in the file", d->path);
		ret = -EINVAL;
	} else {
		ret = config_parse_string(cfg, d->path, text, err, errlen);
	}
	crypto_wipe(text, len);
	free(text);
	return ret;
}

static int reload_load(struct daemon *d, struct porthole_config *cfg, char *err, size_t errlen)
{
	if (parse_again(d, cfg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->has_interface != d->cfg.has_interface) {
		snprintf(err, errlen, "%s: %s [Interface] needs a restart", d->path,
			 cfg->has_interface ? "adding an" : "removing the");
		return -EOPNOTSUPP;
	}
	if (!cfg->has_interface && !cfg->nforwards) {
		snprintf(err, errlen, "%s: neither [Interface] nor [Forward]: nothing to run",
			 d->path);
		return -EINVAL;
	}
	if (resolve_endpoints(cfg, err, errlen) < 0)
		return -EHOSTUNREACH;
	set_fwmark(&cfg->iface, netconf_fwmark(&cfg->iface));
	return 0;
}

struct gateway_change {
	struct daemon *d;
	const struct porthole_config *cfg;
	char *err;
	size_t errlen;
	int ret;
};

/* On the gateway's thread. */
static void change_gateway(void *arg)
{
	struct gateway_change *c = arg;
	struct daemon *d = c->d;

	if (!c->cfg->nforwards) {
		gateway_close(d->gw);
		d->gw = NULL;
		c->ret = 0;
	} else if (!d->gw) {
		c->ret = gateway_open(&d->gw, d->gw_loop, c->cfg, c->err, c->errlen);
	} else {
		c->ret = gateway_reload(d->gw, c->cfg, c->err, c->errlen);
	}
}

/* The gateway first: it either applies whole or not at all. */
static int reload_gateway(struct daemon *d, const struct porthole_config *cfg, char *err,
			  size_t errlen)
{
	struct gateway_change c = { d, cfg, err, errlen, 0 };

	loop_call(d->gw_loop, change_gateway, &c);
	return c.ret;
}

int daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct porthole_config cfg;
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	log_info("%s: reloading %s", d->name, d->path);
	sdnotify_send("RELOADING=1");
	ret = reload_load(d, &cfg, err, errlen);
	if (!ret)
		ret = reload_gateway(d, &cfg, err, errlen);
	if (!ret && d->tunnel)
		ret = reload_apply_tunnel(d->tunnel, &d->netconf, &d->cfg.iface, &cfg.iface, err,
					  errlen);
	sdnotify_send("READY=1"); /* systemd's reload is over, whichever way it went */
	if (ret < 0) {
		log_err("%s: reload refused, the running configuration stays: %s", d->name, err);
		config_free(&cfg);
		return ret;
	}
	cfg.iface.replace_peers = true;
	config_free(&d->cfg);
	d->cfg = cfg;
	apply_busy_poll(d);
	log_info("%s: reloaded, %zu peers, %zu forwards", d->name, d->cfg.iface.npeers,
		 d->cfg.nforwards);
	return 0;
}
