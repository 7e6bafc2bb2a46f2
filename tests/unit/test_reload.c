/* Reload: the comparisons that decide what changed, the `wg syncconf`-like change built for the
 * tunnel, and the gateway's reload on loopback (kept listeners keep their socket, removed ports
 * stop, added ports accept, a port that cannot be bound leaves everything as it was). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "check.h"
#include "fwd.h"
#include "gateway.h"
#include "reload.h"

/* Keys from tests/unit/test_config.c. */
static const char *const K1 = "0O6z+wFKDI38mpPs4fI1c8h0kxldh2ertwa90EL0jmA=";
static const char *const P2 = "m01nK/RrK43kjYJfjxHgGj9Kbkv6zCjDiBkVI9MfDHI=";
static const char *const P3 = "8KryDhRUDAZBGVFU4HUwNJIw/hVS6ujOWfh9q2rucDg=";
static const char *const PSK = "yhD1bmaf5uOdm2rKkvTSqyvcdV3/d14RtTYsuLX7RxY=";

static const char *fmt(const char *f, ...)
{
	static char buf[4096];
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	return buf;
}

static bool parse(struct porthole_config *cfg, const char *text)
{
	char err[256];

	if (config_parse_string(cfg, "t", text, err, sizeof(err)) < 0) {
		fprintf(stderr, "parse: %s\n", err);
		return false;
	}
	return true;
}

/* ---- forwards ---- */

static const char base_fwd[] =
    "[Forward]\nName = web\nListen = 0.0.0.0:443\nTarget = 10.0.0.2:443\n"
    "SendProxy = v2\nServerName = a.example\n";

static bool fwd_same_as_base(const char *extra)
{
	struct porthole_config a = {0}, b = {0};
	bool same;

	if (!parse(&a, base_fwd) || !parse(&b, fmt("%s%s", base_fwd, extra)))
		return false;
	same = reload_same_forward(&a.forwards[0], &b.forwards[0]);
	config_free(&a);
	config_free(&b);
	return same;
}

static void test_same_forward(void)
{
	CHECK(fwd_same_as_base(""));
	CHECK(fwd_same_as_base("\n# a comment moves no setting\n"));
	CHECK(!fwd_same_as_base("ServerName = b.example\n"));
	CHECK(!fwd_same_as_base("AllowFrom = 192.0.2.0/24\n"));
	CHECK(!fwd_same_as_base("MaxConnections = 7\n"));
	CHECK(!fwd_same_as_base("IdleTimeout = 5s\n"));
	CHECK(!fwd_same_as_base("Splice = off\n"));
	CHECK(!fwd_same_as_base("AcceptProxy = optional\nTrustedProxies = 10.0.0.0/8\n"));
}

static void test_same_forward_fields(void)
{
	struct porthole_config a = {0}, b = {0};

	CHECK(parse(&a, base_fwd));
	CHECK(parse(&b, "[Forward]\nName = web\nListen = 0.0.0.0:443\nTarget = 10.0.0.3:443\n"
			"SendProxy = v2\nServerName = a.example\n"));
	CHECK(!reload_same_forward(&a.forwards[0], &b.forwards[0])); /* target */
	config_free(&b);
	CHECK(parse(&b, "[Forward]\nName = web\nListen = 0.0.0.0:444\nTarget = 10.0.0.2:443\n"
			"SendProxy = v2\nServerName = a.example\n"));
	CHECK(!reload_same_forward(&a.forwards[0], &b.forwards[0])); /* listen */
	config_free(&b);
	CHECK(parse(&b, "[Forward]\nName = www\nListen = 0.0.0.0:443\nTarget = 10.0.0.2:443\n"
			"SendProxy = v2\nServerName = a.example\n"));
	CHECK(!reload_same_forward(&a.forwards[0], &b.forwards[0])); /* name */
	config_free(&b);
	CHECK(parse(&b, "[Forward]\nName = web\nListen = 0.0.0.0:443\nTarget = 10.0.0.2:443\n"
			"SendProxy = v1\nServerName = a.example\n"));
	CHECK(!reload_same_forward(&a.forwards[0], &b.forwards[0])); /* send proxy */
	config_free(&a);
	config_free(&b);
}

/* ---- the tunnel's change ---- */

static const char *iface_text(const char *peers, const char *extra)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "[Interface]\nPrivateKey = %s\nAddress = 10.9.0.1/24\n%s%s", K1,
		 extra, peers);
	return buf;
}

static const struct peer_config *change_for(const struct interface_config *c, const char *b64)
{
	struct porthole_config k = {0};
	const struct peer_config *found = NULL;

	if (!parse(&k, fmt("[Interface]\nPrivateKey = %s\n[Peer]\nPublicKey = %s\n", P3, b64)))
		return NULL;
	for (size_t i = 0; i < c->npeers; i++) {
		if (!memcmp(c->peers[i].public_key, k.iface.peers[0].public_key, CRYPTO_KEY_LEN))
			found = &c->peers[i];
	}
	config_free(&k);
	return found;
}

static void test_tunnel_change(void)
{
	struct porthole_config old = {0}, new = {0};
	struct interface_config ch;
	const struct peer_config *p;
	char peers_old[1024], peers_new[1024];

	snprintf(peers_old, sizeof(peers_old),
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.0.2/32\nEndpoint = 192.0.2.1:51820\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.0.3/32\n",
		 P2, P3);
	snprintf(peers_new, sizeof(peers_new),
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.0.2/32, 10.9.1.0/24\n"
		 "Endpoint = 192.0.2.1:51820\nPresharedKey = %s\n",
		 P2, PSK);
	CHECK(parse(&old, iface_text(peers_old, "")));
	CHECK(parse(&new, iface_text(peers_new, "MTU = 1380\n")));
	CHECK(reload_tunnel_change(&ch, &old.iface, &new.iface) == 0);
	CHECK(!ch.has_private_key && !ch.has_listen_port && !ch.has_fwmark && !ch.replace_peers);
	CHECK(ch.has_mtu && ch.mtu == 1380);
	CHECK(ch.npeers == 2);
	p = change_for(&ch, P3);
	CHECK(p && p->remove);
	p = change_for(&ch, P2);
	CHECK(p && !p->remove && p->replace_allowed_ips && p->allowed_ips.len == 2);
	CHECK(p && !p->has_endpoint); /* unchanged in the file: a roamed endpoint stays */
	CHECK(p && p->has_psk && !p->has_keepalive);
	config_interface_free(&ch);

	/* Nothing changed: an empty change, every peer kept as it is. */
	CHECK(reload_tunnel_change(&ch, &old.iface, &old.iface) == 0);
	CHECK(!ch.has_private_key && !ch.has_mtu && ch.npeers == 2);
	for (size_t i = 0; i < ch.npeers; i++)
		CHECK(!ch.peers[i].remove && !ch.peers[i].replace_allowed_ips &&
		      !ch.peers[i].has_endpoint && !ch.peers[i].has_psk &&
		      !ch.peers[i].has_keepalive);
	config_interface_free(&ch);
	config_free(&new);

	/* A new peer comes whole; a moved endpoint and a new listen port are set. */
	snprintf(peers_new, sizeof(peers_new),
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.0.2/32\nEndpoint = 192.0.2.9:51820\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.0.3/32\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.0.4/32\nPersistentKeepalive = 25\n",
		 P2, P3, K1);
	CHECK(parse(&new, iface_text(peers_new, "ListenPort = 51999\n")));
	CHECK(reload_tunnel_change(&ch, &old.iface, &new.iface) == 0);
	CHECK(ch.has_listen_port && ch.listen_port == 51999);
	p = change_for(&ch, P2);
	CHECK(p && p->has_endpoint && !p->replace_allowed_ips);
	p = change_for(&ch, K1);
	CHECK(p && p->replace_allowed_ips && p->allowed_ips.len == 1 && p->has_keepalive &&
	      p->persistent_keepalive == 25);
	config_interface_free(&ch);
	config_free(&new);
	config_free(&old);
}

/* ---- the gateway ---- */

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* The kernel completes a connect to a listening socket even while the loop does not run. */
static bool accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static const char *fwd_text(const char *name, int port, const char *target)
{
	static char buf[4][256];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]),
		 "[Forward]\nName = %s\nListen = 127.0.0.1:%d\nTarget = %s\n", name, port, target);
	return buf[n];
}

static const struct fwd_group *group_of(const struct gateway *gw, const char *name)
{
	for (size_t i = 0; i < gw->nfwds; i++) {
		if (!strcmp(gw->fwds[i]->cfg.name, name))
			return gw->fwds[i]->group;
	}
	return NULL;
}

static void test_gateway_reload(void)
{
	int pa = free_port(), pb = free_port(), pc = free_port(), blocker, fd_a;
	struct porthole_config c1 = {0}, c2 = {0}, c3 = {0};
	const struct fwd_group *ga;
	struct gateway *gw = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct loop loop;
	char err[256];

	CHECK(loop_init(&loop) == 0);
	CHECK(parse(
	    &c1, fmt("%s%s", fwd_text("a", pa, "127.0.0.1:9"), fwd_text("b", pb, "127.0.0.1:9"))));
	CHECK(gateway_open(&gw, &loop, &c1, err, sizeof(err)) == 0);
	if (!gw)
		return;
	ga = group_of(gw, "a");
	fd_a = ga ? ga->lfd.fd : -1;
	CHECK(accepts(pa) && accepts(pb) && !accepts(pc));

	/* b goes, c comes, a stays with its very socket. */
	CHECK(parse(
	    &c2, fmt("%s%s", fwd_text("a", pa, "127.0.0.1:9"), fwd_text("c", pc, "127.0.0.1:9"))));
	CHECK(gateway_reload(gw, &c2, err, sizeof(err)) == 0);
	CHECK(gateway_forwards(gw) == 2);
	CHECK(group_of(gw, "a") == ga && ga->lfd.fd == fd_a);
	CHECK(group_of(gw, "b") == NULL && group_of(gw, "c") != NULL);
	CHECK(accepts(pa) && !accepts(pb) && accepts(pc));

	/* A port someone else holds: refused, with the gateway as it was. */
	blocker = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)pb);
	CHECK(bind(blocker, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(blocker, 1) == 0);
	CHECK(parse(
	    &c3, fmt("%s%s", fwd_text("a", pa, "127.0.0.1:9"), fwd_text("b", pb, "127.0.0.1:9"))));
	CHECK(gateway_reload(gw, &c3, err, sizeof(err)) == -EADDRINUSE);
	CHECK(strstr(err, "forward 'b': cannot listen on 127.0.0.1:") != NULL);
	CHECK(gateway_forwards(gw) == 2 && group_of(gw, "c") && group_of(gw, "a") == ga);
	CHECK(accepts(pa) && accepts(pc));
	close(blocker);

	/* A changed forward keeps its port open throughout: the socket passes to the new one. */
	config_free(&c3);
	CHECK(parse(
	    &c3, fmt("%s%s", fwd_text("a", pa, "127.0.0.2:9"), fwd_text("c", pc, "127.0.0.1:9"))));
	CHECK(gateway_reload(gw, &c3, err, sizeof(err)) == 0);
	CHECK(group_of(gw, "a") && group_of(gw, "a")->lfd.fd == fd_a);
	CHECK(accepts(pa) && accepts(pc) && !accepts(pb));

	gateway_close(gw);
	loop_free(&loop);
	config_free(&c1);
	config_free(&c2);
	config_free(&c3);
}

int main(void)
{
	RUN(test_same_forward);
	RUN(test_same_forward_fields);
	RUN(test_tunnel_change);
	RUN(test_gateway_reload);
	return check_done("reload");
}
