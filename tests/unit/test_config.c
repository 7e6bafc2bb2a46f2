/* The configuration file parser: the sample files in tests/conf, then inline cases. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "encoding.h"
#include "log.h"

static const char *const K1 = "0O6z+wFKDI38mpPs4fI1c8h0kxldh2ertwa90EL0jmA=";
static const char *const P2 = "m01nK/RrK43kjYJfjxHgGj9Kbkv6zCjDiBkVI9MfDHI=";
static const char *const P3 = "8KryDhRUDAZBGVFU4HUwNJIw/hVS6ujOWfh9q2rucDg=";
static const char *const PSK = "yhD1bmaf5uOdm2rKkvTSqyvcdV3/d14RtTYsuLX7RxY=";

static const char *conf_dir;

static bool key_is(const uint8_t key[32], const char *b64)
{
	uint8_t k[32];

	return key_from_base64(k, b64) && !memcmp(k, key, 32);
}

static bool ip_is(const struct allowed_ip *ip, const char *addr, unsigned int cidr)
{
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, addr, &a) != 1)
		return false;
	return ip->family == family && ip->cidr == cidr &&
	       !memcmp(&ip->addr, &a, family == AF_INET ? 4 : 16);
}

static bool sin_is(const struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	char buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET)
		return inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) && !strcmp(buf, addr) &&
		       ntohs(sin->sin_port) == port;
	if (ss->ss_family == AF_INET6)
		return inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)) &&
		       !strcmp(buf, addr) && ntohs(sin6->sin6_port) == port;
	return false;
}

static char *path_of(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", conf_dir, name);
	return path;
}

static void test_good_home(void)
{
	struct porthole_config cfg;
	char err[256];
	struct peer_config *p;
	struct forward_config *f;

	CHECK(config_parse_file(&cfg, path_of("good-home.conf"), err, sizeof(err)) == 0);
	if (cfg.iface.npeers != 1 || cfg.nforwards != 2) {
		CHECK(!"shape of good-home.conf");
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(cfg.has_interface);
	CHECK(cfg.iface.has_private_key && key_is(cfg.iface.private_key, K1));
	CHECK(cfg.iface.has_listen_port && cfg.iface.listen_port == 51820);
	CHECK(!cfg.iface.has_fwmark);
	CHECK(cfg.iface.has_mtu && cfg.iface.mtu == 1380);
	CHECK(cfg.iface.busy_poll_us == 150);
	CHECK(cfg.iface.addresses.len == 2);
	CHECK(ip_is(&cfg.iface.addresses.items[0], "10.99.0.1", 24));
	CHECK(ip_is(&cfg.iface.addresses.items[1], "fd99::1", 64));
	p = &cfg.iface.peers[0];
	CHECK(p->line == 9);
	CHECK(key_is(p->public_key, P2));
	CHECK(p->has_psk && key_is(p->preshared_key, PSK));
	CHECK(p->allowed_ips.len == 3);
	CHECK(ip_is(&p->allowed_ips.items[1], "192.168.1.0", 24));
	CHECK(ip_is(&p->allowed_ips.items[2], "fd99::2", 128));
	CHECK(p->has_endpoint && p->endpoint.ss_family == AF_UNSPEC);
	CHECK(!strcmp(p->endpoint_host, "home.example.org") && p->endpoint_port == 51820);
	CHECK(p->has_keepalive && p->persistent_keepalive == 25);
	CHECK(p->replace_allowed_ips && !p->remove && !p->update_only);

	f = &cfg.forwards[0];
	CHECK(!strcmp(f->name, "https") && f->protocol == FWD_TCP);
	CHECK(sin_is(&f->listen, "0.0.0.0", 443));
	CHECK(f->has_target_addr && sin_is(&f->target, "10.99.0.2", 443));
	CHECK(f->send_proxy == SEND_PROXY_V2 && f->accept_proxy == ACCEPT_PROXY_OFF);
	CHECK(f->server_names.len == 2 && !strcmp(f->server_names.items[1], "*.example.org"));
	CHECK(f->connect_timeout_ns == 500 * NSEC_PER_MSEC);
	CHECK(f->idle_timeout_ns == 120 * NSEC_PER_SEC);
	CHECK(f->max_connections == CONFIG_DEFAULT_MAX_CONNECTIONS);
	f = &cfg.forwards[1];
	CHECK(f->protocol == FWD_UDP && sin_is(&f->listen, "::", 53));
	CHECK(f->allow_from.len == 2 && ip_is(&f->allow_from.items[1], "2001:db8::", 32));
	CHECK(f->connect_timeout_ns == CONFIG_DEFAULT_CONNECT_TIMEOUT);
	CHECK(f->idle_timeout_ns == CONFIG_DEFAULT_UDP_IDLE_TIMEOUT);
	config_free(&cfg);
	CHECK(cfg.iface.peers == NULL && cfg.forwards == NULL);
	CHECK(crypto_is_zero(cfg.iface.private_key, 32));
}

static void test_good_wg_quick(void)
{
	struct porthole_config cfg;
	char err[256];
	struct peer_config *p;

	CHECK(config_parse_file(&cfg, path_of("good-wg-quick.conf"), err, sizeof(err)) == 0);
	if (cfg.iface.npeers != 2) {
		CHECK(!"shape of good-wg-quick.conf");
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(key_is(cfg.iface.private_key, K1));
	CHECK(cfg.iface.has_fwmark && cfg.iface.fwmark == 0x1234);
	CHECK(cfg.iface.has_listen_port && cfg.iface.listen_port == 0);
	CHECK(!cfg.iface.has_mtu && cfg.iface.mtu == CONFIG_DEFAULT_MTU);
	CHECK(cfg.iface.busy_poll_us == 0);
	/* A full packet at the default MTU is whole ChaCha20 blocks: no partial block to seal. */
	CHECK(CONFIG_DEFAULT_MTU == 1408 && CONFIG_DEFAULT_MTU % 64 == 0);
	p = &cfg.iface.peers[0];
	CHECK(p->allowed_ips.len == 0 && p->replace_allowed_ips);
	CHECK(sin_is(&p->endpoint, "2001:db8::1", 51820));
	CHECK(p->has_keepalive && p->persistent_keepalive == 0);
	p = &cfg.iface.peers[1];
	CHECK(key_is(p->public_key, P3));
	CHECK(p->allowed_ips.len == 2 && ip_is(&p->allowed_ips.items[1], "::", 0));
	CHECK(sin_is(&p->endpoint, "192.0.2.7", 4500) && !strcmp(p->endpoint_host, "192.0.2.7"));
	config_free(&cfg);
}

static void test_good_sni(void)
{
	struct porthole_config cfg;
	char err[256];

	CHECK(config_parse_file(&cfg, path_of("good-sni.conf"), err, sizeof(err)) == 0);
	CHECK(cfg.nforwards == 4 && !cfg.has_interface);
	if (cfg.nforwards == 4) {
		CHECK(!strcmp(cfg.forwards[1].server_names.items[1], "b.example.org"));
		CHECK(!strcmp(cfg.forwards[2].name, "forward3"));
		CHECK(cfg.forwards[3].protocol == FWD_UDP);
	}
	config_free(&cfg);
}

static void test_good_forward_only(void)
{
	struct porthole_config cfg;
	char err[256];
	struct forward_config *f = NULL;

	CHECK(config_parse_file(&cfg, path_of("good-forward-only.conf"), err, sizeof(err)) == 0);
	CHECK(!cfg.has_interface && cfg.iface.npeers == 0 && cfg.nforwards == 1);
	if (cfg.nforwards)
		f = &cfg.forwards[0];
	if (f) {
		CHECK(!f->has_target_addr && !strcmp(f->target_host, "backend.internal"));
		CHECK(f->target_port == 80);
		CHECK(f->accept_proxy == ACCEPT_PROXY_OPTIONAL && f->trusted_proxies.len == 1);
		CHECK(f->max_connections == 100 && f->max_connections_per_source == 10);
		CHECK(f->idle_timeout_ns == CONFIG_DEFAULT_TCP_IDLE_TIMEOUT);
	}
	config_free(&cfg);
}

/* Runs a broken file and compares with its "# expect: LINE: text" first line. */
static void run_bad(const char *name)
{
	char expect[512], prefix[600], err[512];
	struct porthole_config cfg;
	const char *path = path_of(name);
	unsigned int line;
	int off = 0, ret;
	FILE *f = fopen(path, "r");

	if (!f || !fgets(expect, sizeof(expect), f) ||
	    sscanf(expect, "# expect: %u: %n", &line, &off) != 1 || !off) {
		CHECK(!"bad file has an '# expect: LINE: text' first line");
		fprintf(stderr, "  %s\n", name);
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	expect[strcspn(expect, "\n")] = '\0';
	ret = config_parse_file(&cfg, path, err, sizeof(err));
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	CHECK(ret == -EINVAL);
	CHECK(!strncmp(err, prefix, strlen(prefix)) && strstr(err, expect + off));
	CHECK(!strchr(err, '\n'));
	if (ret != -EINVAL || strncmp(err, prefix, strlen(prefix)) || !strstr(err, expect + off))
		fprintf(stderr, "  %s: got \"%s\", want \"%s%s\"\n", name, err, prefix,
			expect + off);
	CHECK(cfg.iface.peers == NULL && cfg.forwards == NULL);
}

static void test_conf_dir(void)
{
	struct dirent *de;
	int good = 0, bad = 0;
	DIR *d = opendir(conf_dir);

	CHECK(d != NULL);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct porthole_config cfg;
		char err[512];
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 5, ".conf"))
			continue;
		if (!strncmp(de->d_name, "bad-", 4)) {
			run_bad(de->d_name);
			bad++;
		} else if (!strncmp(de->d_name, "good-", 5)) {
			int ret = config_parse_file(&cfg, path_of(de->d_name), err, sizeof(err));

			CHECK(ret == 0);
			if (ret)
				fprintf(stderr, "  %s: %s\n", de->d_name, err);
			else
				config_free(&cfg);
			good++;
		}
	}
	closedir(d);
	CHECK(good >= 4 && bad >= 20);
}

/* Inline: text and the expected error ("" for success). Line numbers count from 1. */
static void expect_string(const char *text, const char *want)
{
	struct porthole_config cfg;
	char err[512];
	int ret = config_parse_string(&cfg, "t.conf", text, err, sizeof(err));

	if (!*want) {
		CHECK(ret == 0);
		if (ret)
			fprintf(stderr, "  unexpected error: %s\n", err);
		else
			config_free(&cfg);
		return;
	}
	CHECK(ret < 0 && strstr(err, want));
	if (ret >= 0 || !strstr(err, want))
		fprintf(stderr, "  got \"%s\" (%d), want \"%s\"\n", ret ? err : "", ret, want);
}

static char *fmt(const char *f, ...) PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
	static char bufs[4][2048];
	static int i;
	char *b = bufs[i++ % 4];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static void test_inline_errors(void)
{
	char iface[256];

	snprintf(iface, sizeof(iface), "[Interface]\nPrivateKey = %s\n[Peer]\nPublicKey = %s\n", K1,
		 P2);

	expect_string(iface, "");
	expect_string(fmt("%sAllowedIPs = 10.0.0.1/32,\n", iface),
		      "t.conf:5: empty entry in AllowedIPs");
	expect_string(fmt("%sAllowedIPs = 10.0.0.256/32\n", iface),
		      "t.conf:5: invalid AllowedIPs '10.0.0.256/32': not an IP address");
	expect_string(fmt("%sAllowedIPs = ::/129\n", iface), "prefix length out of range");
	expect_string(fmt("%sAllowedIPs = 10.0.0.0/x\n", iface), "prefix length is not a number");
	expect_string(fmt("%sAllowedIPs = 10.0.0.0/-1\n", iface), "prefix length is not a number");
	expect_string(fmt("%sEndpoint = 1.2.3.4\n", iface), "'1.2.3.4': missing port");
	expect_string(fmt("%sEndpoint = 1.2.3.4:0\n", iface), "port must be 1 to 65535");
	expect_string(fmt("%sEndpoint = 1.2.3.4:65536\n", iface), "port must be 1 to 65535");
	expect_string(fmt("%sEndpoint = [::1:51820\n", iface), "no closing bracket");
	expect_string(fmt("%sEndpoint = [1.2.3.4]:51820\n", iface), "not an IPv6 address");
	expect_string(fmt("%sEndpoint = bad host:1\n", iface), "not an IP address or host name");
	expect_string(fmt("%sPersistentKeepalive = 65536\n", iface), "expected off or 0 to 65535");
	expect_string(fmt("%sPresharedKey = short\n", iface),
		      "t.conf:5: invalid PresharedKey: not");
	expect_string(fmt("%sPublicKey = %s\n", iface, "not-a-key"), "t.conf:5: invalid PublicKey");
	expect_string("[Interface]\nListenPort = 65536\n", "t.conf:2: invalid ListenPort '65536'");
	expect_string("[Interface]\nListenPort = -1\n", "invalid ListenPort '-1'");
	expect_string("[Interface]\nFwMark = 0x100000000\n", "invalid FwMark");
	expect_string("[Interface]\nFwMark = 12abc\n", "invalid FwMark");
	expect_string("[Interface]\nFwMark = off\n", "");
	expect_string("[Interface]\nMetricsListen = 127.0.0.1:9100\n", "");
	expect_string("[Interface]\nMetricsListen = localhost:9100\n", "invalid MetricsListen");
	expect_string("[Interface]\nBusyPoll = 0\n", "");
	expect_string("[Interface]\nBusyPoll = 1000\n", "");
	expect_string("[Interface]\nBusyPoll = 1001\n",
		      "t.conf:2: invalid BusyPoll '1001': expected a number from 0 to 1000");
	expect_string("[Interface]\nBusyPoll = 50us\n", "invalid BusyPoll '50us'");
	expect_string("[Forward]\nListen = 0.0.0.0:1\nTarget = a:1\nBusyPoll = 50\n",
		      "t.conf:4: 'BusyPoll' belongs in [Interface], not in [Forward]");
	expect_string("[Interface]\nPreUp = true\n", "'PreUp' is not supported: porthole runs no");
	expect_string("[Interface]\npostdown = true\n", "'PostDown' is not supported");
	expect_string("[Interface]\n= 3\n", "t.conf:2: missing key");
	/* Secrets are never quoted back. */
	expect_string("[Interface]\nPrivateKey = c2VjcmV0\n", "invalid PrivateKey");
	{
		struct porthole_config cfg;
		char err[256];

		CHECK(config_parse_string(&cfg, "t", "[Interface]\nPrivateKey = c2VjcmV0\n", err,
					  sizeof(err)) < 0);
		CHECK(!strstr(err, "c2VjcmV0"));
	}
}

static void test_inline_forwards(void)
{
	static const char fwd[] = "[Forward]\nListen = 0.0.0.0:443\nTarget = 10.0.0.2:443\n";

	expect_string(fwd, "");
	expect_string(fmt("%sProtocol = sctp\n", fwd), "t.conf:4: invalid Protocol 'sctp'");
	expect_string(fmt("%sSendProxy = v3\n", fwd), "invalid SendProxy 'v3'");
	expect_string(fmt("%sAcceptProxy = yes\n", fwd), "invalid AcceptProxy 'yes'");
	expect_string(fmt("%sAcceptProxy = required\nTrustedProxies = 10.0.0.0/8\n", fwd), "");
	expect_string(fmt("%sServerName = *\n", fwd), "invalid ServerName '*'");
	expect_string(fmt("%sServerName = a..b\n", fwd), "invalid ServerName 'a..b'");
	expect_string(fmt("%sServerName = *.*.b\n", fwd), "invalid ServerName");
	expect_string(fmt("%sName = has space\n", fwd), "invalid Name 'has space'");
	expect_string(
	    fmt("%sName = a\n[Forward]\nName = a\nListen = 0.0.0.0:80\nTarget = x:80\n", fwd),
	    "t.conf:5: [Forward] name 'a' already used at line 1");
	expect_string(fmt("%sMaxConnections = 4294967296\n", fwd), "invalid MaxConnections");
	expect_string(fmt("%sConnectTimeout = 1.5s\n", fwd), "invalid ConnectTimeout '1.5s'");
	expect_string(fmt("%sConnectTimeout = 99999999999999999999\n", fwd), "ConnectTimeout");
	expect_string(fmt("%sIdleTimeout = 0\n", fwd), "");
	expect_string("[Forward]\nListen = example.org:443\nTarget = 10.0.0.2:443\n",
		      "invalid Listen 'example.org:443': not an IP address");
	expect_string("[Forward]\nTarget = 10.0.0.2:443\n", "t.conf:1: [Forward] has no Listen");
	expect_string("[Forward]\nListen = 0.0.0.0:53\nProtocol = udp\nTarget = 10.0.0.2:53\n"
		      "[Forward]\nListen = 0.0.0.0:53\nProtocol = udp\nTarget = 10.0.0.3:53\n",
		      "t.conf:5: [Forward] 'forward2': UDP Listen already used at line 1");
	expect_string(fmt("%sServerName = a.org\nAcceptProxy = optional\nTrustedProxies = ::1\n"
			  "[Forward]\nListen = 0.0.0.0:443\nTarget = 10.0.0.2:443\n",
			  fwd),
		      "must agree on AcceptProxy");
	expect_string("[Forward]\nListen = 0.0.0.0:53\nProtocol = udp\nTarget = 10.0.0.2:53\n"
		      "AcceptProxy = required\nTrustedProxies = 10.0.0.0/8\n",
		      "AcceptProxy needs Protocol = tcp");
}

static void test_text_forms(void)
{
	struct porthole_config cfg;
	char err[256];

	/* CRLF line ends, no final newline, and a missing newline on an empty text. */
	CHECK(config_parse_string(&cfg, "t", "[Forward]\r\nListen = 0.0.0.0:1\r\nTarget = a:1", err,
				  sizeof(err)) == 0);
	config_free(&cfg);
	CHECK(config_parse_string(&cfg, "t", "", err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, "t: no [Interface] and no [Forward]: nothing to run"));
	/* Peers without an [Interface] section still need a private key. */
	CHECK(config_parse_string(&cfg, "t", fmt("[Peer]\nPublicKey = %s\n", P2), err,
				  sizeof(err)) == -EINVAL);
	CHECK(!strncmp(err, "t:1: [Interface] has no PrivateKey", 34));
	/* An empty [Interface] is a tunnel with nothing configured yet, as in wg. */
	CHECK(config_parse_string(&cfg, "t", "[Interface]\n", err, sizeof(err)) == 0);
	config_free(&cfg);
	/* errlen 0 must not write. */
	CHECK(config_parse_string(&cfg, "t", "[Nope]\n", NULL, 0) == -EINVAL);
}

static void test_value_parsers(void)
{
	struct allowed_ip ip;
	struct sockaddr_storage ss;
	char host[CONFIG_HOST_MAX];
	const char *why;
	uint64_t ns;
	uint16_t port;

	CHECK(config_parse_prefix(&ip, "10.1.2.3/8", &why) && ip_is(&ip, "10.1.2.3", 8));
	CHECK(config_parse_prefix(&ip, "10.1.2.3", &why) && ip.cidr == 32);
	CHECK(config_parse_prefix(&ip, "::ffff:1.2.3.4", &why) && ip.cidr == 128);
	CHECK(!config_parse_prefix(&ip, "10.1.2.3/", &why));
	CHECK(!config_parse_prefix(&ip, "10.1.2.3/33", &why) &&
	      !strcmp(why, "prefix length out of range"));
	CHECK(!config_parse_prefix(&ip, "", &why));
	CHECK(!config_parse_prefix(&ip, "1.2.3.4 /8", &why));

	CHECK(config_parse_endpoint(&ss, host, &port, "[fe80::1%1]:5", false, &why));
	CHECK(((struct sockaddr_in6 *)&ss)->sin6_scope_id == 1 && port == 5);
	CHECK(!config_parse_endpoint(&ss, host, &port, "[fe80::1%nosuchif0]:5", false, &why));
	CHECK(!config_parse_endpoint(&ss, host, &port, "host:5", false, &why));
	CHECK(config_parse_endpoint(&ss, host, &port, "Host-1.example_x.org:5", true, &why));
	CHECK(ss.ss_family == AF_UNSPEC && !strcmp(host, "Host-1.example_x.org"));
	CHECK(!config_parse_endpoint(&ss, host, &port, ":5", true, &why));
	CHECK(!config_parse_endpoint(&ss, host, &port, "[::1]5", true, &why));
	CHECK(!config_parse_endpoint(&ss, host, &port, "a.b:+5", true, &why));

	CHECK(config_parse_duration(&ns, "5", &why) && ns == 5 * NSEC_PER_SEC);
	CHECK(config_parse_duration(&ns, "5s", &why) && ns == 5 * NSEC_PER_SEC);
	CHECK(config_parse_duration(&ns, "250ms", &why) && ns == 250 * NSEC_PER_MSEC);
	CHECK(config_parse_duration(&ns, "2m", &why) && ns == 120 * NSEC_PER_SEC);
	CHECK(config_parse_duration(&ns, "1h", &why) && ns == 3600 * NSEC_PER_SEC);
	CHECK(config_parse_duration(&ns, "1d", &why) && ns == 86400 * NSEC_PER_SEC);
	CHECK(config_parse_duration(&ns, "365d", &why));
	CHECK(!config_parse_duration(&ns, "366d", &why));
	CHECK(!config_parse_duration(&ns, "", &why));
	CHECK(!config_parse_duration(&ns, "-1s", &why));
	CHECK(!config_parse_duration(&ns, "5 s", &why));
	CHECK(!config_parse_duration(&ns, "s", &why));
}

static char *many_allowed_ips(size_t n)
{
	char *text = malloc(n * 32 + 256);
	size_t off;

	if (!text)
		return NULL;
	off =
	    (size_t)sprintf(text, "[Interface]\nPrivateKey = %s\n[Peer]\nPublicKey = %s\n", K1, P2);
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(text + off, "AllowedIPs = 10.%zu.%zu.0/24\n", i >> 8 & 255,
				       i & 255);
	return text;
}

static void test_allowed_ips_cap(void)
{
	char *at_cap = many_allowed_ips(CONFIG_MAX_ALLOWED_IPS);
	char *past_cap = many_allowed_ips(CONFIG_MAX_ALLOWED_IPS + 1);
	struct porthole_config cfg;
	char err[256];

	if (at_cap && past_cap) {
		CHECK(config_parse_string(&cfg, "big", at_cap, err, sizeof(err)) == 0);
		CHECK(cfg.iface.npeers == 1 &&
		      cfg.iface.peers[0].allowed_ips.len == CONFIG_MAX_ALLOWED_IPS);
		config_free(&cfg);
		CHECK(config_parse_string(&cfg, "big", past_cap, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "big:65541: too many AllowedIPs entries") != NULL);
	}
	free(at_cap);
	free(past_cap);
}

static void test_file_errors(void)
{
	struct porthole_config cfg;
	char err[256], path[] = "/tmp/porthole-test-XXXXXX";
	int fd = mkstemp(path);
	int ret;

	CHECK(config_parse_file(&cfg, "/nonexistent/x.conf", err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/x.conf") != NULL);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* World readable: a warning, not an error. NUL bytes are errors. */
	CHECK(write(fd, "[Forward]\nListen = 0.0.0.0:1\nTarget = a:1\n", 42) == 42);
	fchmod(fd, 0644);
	ret = config_parse_file(&cfg, path, err, sizeof(err));
	CHECK(ret == 0);
	if (!ret)
		config_free(&cfg);
	CHECK(write(fd, "#\0x\n", 4) == 4);
	ret = config_parse_file(&cfg, path, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, ":4: NUL byte"));
	close(fd);
	unlink(path);
}

int main(void)
{
	struct stat st;

	conf_dir = getenv("PORTHOLE_CONF_DIR");
	if (!conf_dir)
		conf_dir = stat("tests/conf", &st) ? "../../tests/conf" : "tests/conf";
	/* The sample files are world readable in a checkout: keep their warnings quiet. */
	log_set_level(LOG_LEVEL_ERR);
	RUN(test_good_home);
	RUN(test_good_wg_quick);
	RUN(test_good_sni);
	RUN(test_good_forward_only);
	RUN(test_conf_dir);
	RUN(test_inline_errors);
	RUN(test_inline_forwards);
	RUN(test_text_forms);
	RUN(test_value_parsers);
	RUN(test_allowed_ips_cap);
	RUN(test_file_errors);
	return check_done("config");
}
