/* The generator behind porthole init: argument parsing, the subnet it picks, and files that the
 * real configuration parser accepts with keys that fit together. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "crypto.h"
#include "init.h"

static void test_endpoint(void)
{
	static const struct {
		const char *in, *host;
		unsigned int port;
	} good[] = {
	    {"vps.example.org", "vps.example.org", INIT_DEFAULT_PORT},
	    {"192.0.2.1:4000", "192.0.2.1", 4000},
	    {"[2001:db8::1]:51999", "2001:db8::1", 51999},
	    {"[2001:db8::1]", "2001:db8::1", INIT_DEFAULT_PORT},
	    {"2001:db8::1", "2001:db8::1", INIT_DEFAULT_PORT},
	};
	static const char *const bad[] = {"", "host:0", "host:65536", "host:x", "[::1", "[::1]x"};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct init_plan p = {0};

		snprintf(buf, sizeof(buf), "%s", good[i].in);
		CHECK(init_parse_endpoint(&p, buf) == 0);
		CHECK(p.endpoint && !strcmp(p.endpoint, good[i].host));
		CHECK(p.port == good[i].port);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct init_plan p = {0};

		snprintf(buf, sizeof(buf), "%s", bad[i]);
		CHECK(init_parse_endpoint(&p, buf) < 0);
	}
}

static void test_forward(void)
{
	static struct init_plan p;
	char port[16];

	CHECK(init_parse_forward(&p, "443") == 0);
	CHECK(init_parse_forward(&p, "53/udp") == 0);
	CHECK(init_parse_forward(&p, "80/tcp") == 0);
	CHECK(p.nfwd == 3 && p.fwd[0].port == 443 && !p.fwd[0].udp);
	CHECK(p.fwd[1].port == 53 && p.fwd[1].udp && !p.fwd[2].udp);
	CHECK(init_parse_forward(&p, "0") < 0);
	CHECK(init_parse_forward(&p, "70000") < 0);
	CHECK(init_parse_forward(&p, "80/sctp") < 0);
	CHECK(init_parse_forward(&p, "") < 0);
	while (p.nfwd < INIT_MAX_FORWARDS) {
		snprintf(port, sizeof(port), "%zu", 1000 + p.nfwd);
		CHECK(init_parse_forward(&p, port) == 0);
	}
	CHECK(init_parse_forward(&p, "9999") == -EINVAL);
}

static void test_secrets_and_addr(void)
{
	static struct init_plan p, q;
	struct in_addr in;
	char s[INET_ADDRSTRLEN], want[INET_ADDRSTRLEN];

	CHECK(init_make_secrets(&p) == 0);
	CHECK(init_make_secrets(&q) == 0);
	CHECK(p.a >= 100 && p.a <= 227);
	CHECK(strcmp(p.gw_priv, q.gw_priv) && strcmp(p.psk, q.psk));
	CHECK(strcmp(p.gw_pub, p.home_pub));
	init_tunnel_addr(&p, 2, &in);
	inet_ntop(AF_INET, &in, s, sizeof(s));
	snprintf(want, sizeof(want), "10.%u.%u.2", p.a, p.b);
	CHECK(!strcmp(s, want));
	crypto_wipe(&p, sizeof(p));
	crypto_wipe(&q, sizeof(q));
}

/* The written pair goes through the production parser. */
static void test_files(void)
{
	static struct init_plan p;
	static struct porthole_config gw, home;
	char dir[] = "/tmp/test_init.XXXXXX", path[128], err[512], ep[] = "192.0.2.1:4000";

	CHECK(mkdtemp(dir) != NULL);
	CHECK(init_parse_endpoint(&p, ep) == 0);
	CHECK(init_parse_forward(&p, "8080") == 0);
	CHECK(init_make_secrets(&p) == 0);
	CHECK(init_create(dir, "gw.conf", init_write_gateway, &p) == 0);
	CHECK(init_create(dir, "home.conf", init_write_home, &p) == 0);
	CHECK(init_create(dir, "gw.conf", init_write_home, &p) == -EEXIST);
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	CHECK(config_parse_file(&gw, path, err, sizeof(err)) == 0);
	CHECK(gw.nforwards == 1 && gw.iface.npeers == 1 && gw.iface.listen_port == 4000);
	unlink(path);
	snprintf(path, sizeof(path), "%s/home.conf", dir);
	CHECK(config_parse_file(&home, path, err, sizeof(err)) == 0);
	CHECK(home.nforwards == 0 && home.iface.npeers == 1);
	CHECK(home.iface.npeers == 1 && home.iface.peers[0].persistent_keepalive == 25);
	unlink(path);
	rmdir(dir);
	config_free(&gw);
	config_free(&home);
	crypto_wipe(&p, sizeof(p));
}

int main(void)
{
	if (crypto_init() < 0)
		return 1;
	RUN(test_endpoint);
	RUN(test_forward);
	RUN(test_secrets_and_addr);
	RUN(test_files);
	return check_done("init");
}
