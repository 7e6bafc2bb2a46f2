/* TLS ClientHello reader: real ClientHellos from OpenSSL, every truncation, handshakes
 * fragmented across records, malformed length fields and names, the size cap, a random-bytes
 * robustness loop, and the name matcher. */
#include <stdlib.h>
#include "check.h"
#include "sni.h"

/* Captured on Debian 12 with OpenSSL 3.0: `ncat -l 127.0.0.1 47123 > hello.bin` in one shell,
 * then `openssl s_client -connect 127.0.0.1:47123 <options> </dev/null` in another, and
 * `xxd -p -c 32 hello.bin`. Each ends with the alert record s_client sends when the listener
 * closes (15 0301 0002 0232), which is not part of the ClientHello. */

/* -servername x.example.org: TLS 1.3 style (supported_versions, key_share). */
static const char hello_tls13[] = "160301013a0100013603035502212a6c33ba232a5c907851b6b4bf6780eedb51"
				  "f48813a0d82b22c087d32320756b8335ea38e6a8aeac3704060df6ff665e7f6b"
				  "49ca216c0ea914ce67a6a863003e130213031301c02cc030009fcca9cca8ccaa"
				  "c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d"
				  "009c003d003c0035002f00ff010000af00000012001000000d782e6578616d70"
				  "6c652e6f7267000b000403000102000a00160014001d0017001e001900180100"
				  "0101010201030104002300000016000000170000000d002a0028040305030603"
				  "080708080809080a080b08040805080604010501060103030301030204020502"
				  "0602002b0009080304030303020301002d00020101003300260024001d002040"
				  "17ca25735b9f53cebbcce0bcf441c3d8fbe2e8038a68fdd2f774407b7bff7d15"
				  "030100020232";

/* -noservername: no server_name extension. */
static const char hello_nosni[] = "16030101240100012003037a2b1c9626189b89cc8c31496d2101ba59e793fe3b"
				  "af13c8f51565a51d8c0f3f2011149c12fa260f2529f1d9dcb4e1a058bf0f64a3"
				  "eede5e040a16d5dbf33d3863003e130213031301c02cc030009fcca9cca8ccaa"
				  "c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d"
				  "009c003d003c0035002f00ff01000099000b000403000102000a00160014001d"
				  "0017001e0019001801000101010201030104002300000016000000170000000d"
				  "002a0028040305030603080708080809080a080b080408050806040105010601"
				  "030303010302040205020602002b0009080304030303020301002d0002010100"
				  "3300260024001d00200dff45cc35fee2e3ce55a3178f06b603923feb0eb0d7df"
				  "7ae9e38ebe6993671715030100020232";

/* -tls1_2 -servername x.example.org: TLS 1.2 style, no session id, no supported_versions. */
static const char hello_tls12[] = "16030100cd010000c90303a2e3723119bc6604e8a4ce89d13d60ff16ffba56fd"
				  "09c6017081fcbba08a1a49000038c02cc030009fcca9cca8ccaac02bc02f009e"
				  "c024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c"
				  "0035002f00ff0100006800000012001000000d782e6578616d706c652e6f7267"
				  "000b000403000102000a000c000a001d0017001e001900180023000000160000"
				  "00170000000d002a0028040305030603080708080809080a080b080408050806"
				  "04010501060103030301030204020502060215030100020232";

/* -servername X.Example.ORG -alpn h2,http/1.1: a mixed-case name and an ALPN list. */
static const char hello_alpn[] = "160301014c0100014803031027b4eca9e2a94f1dd963c4558db3bae7f032af59"
				 "a6e134fcaa973fb39b4af320ea976bf7c269f08b90d58855400d3e4dca0886bc"
				 "c81572ec206108497be2a926003e130213031301c02cc030009fcca9cca8ccaa"
				 "c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d"
				 "009c003d003c0035002f00ff010000c100000012001000000d582e4578616d70"
				 "6c652e4f5247000b000403000102000a00160014001d0017001e001900180100"
				 "0101010201030104002300000010000e000c02683208687474702f312e310016"
				 "000000170000000d002a0028040305030603080708080809080a080b08040805"
				 "0806040105010601030303010302040205020602002b00090803040303030203"
				 "01002d00020101003300260024001d00207700fa5289ebf57ddb3178f31f3f31"
				 "890ea03614b436d8172fca721784d2a56615030100020232";

#define BUF_MAX (2 * SNI_HELLO_MAX + 64)

static uint8_t in[BUF_MAX], out[BUF_MAX];

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

struct parsed {
	enum sni_result result;
	enum sni_reason reason;
	char name[SNI_NAME_MAX + 1];
	size_t namelen;
	struct sni_extra extra;
};

static struct parsed parse(const uint8_t *buf, size_t len)
{
	struct parsed p = {.namelen = 12345};

	memset(p.name, 'Z', sizeof(p.name));
	p.result = sni_parse(buf, len, p.name, sizeof(p.name), &p.namelen, &p.extra);
	p.reason = p.extra.reason;
	return p;
}

static size_t record_len(const uint8_t *b)
{
	return 5 + ((size_t)b[3] << 8 | b[4]);
}

/* Rewraps the single-record ClientHello at src into records whose fragments have the given
 * sizes (the last repeats); returns the bytes written. */
static size_t refragment(uint8_t *dst, const uint8_t *src, const size_t *sizes, size_t nsizes)
{
	size_t msglen = record_len(src) - 5, off = 0, n = 0;

	for (size_t i = 0; off < msglen; i++) {
		size_t frag = MIN(sizes[MIN(i, nsizes - 1)], msglen - off);

		memcpy(dst + n, src, 3);
		dst[n + 3] = (uint8_t)(frag >> 8);
		dst[n + 4] = (uint8_t)frag;
		memcpy(dst + n + 5, src + 5 + off, frag);
		n += 5 + frag;
		off += frag;
	}
	return n;
}

static void check_truncations(const uint8_t *buf, size_t hello_len, enum sni_result full)
{
	size_t bad = 0;

	for (size_t k = 0; k < hello_len; k++)
		bad += parse(buf, k).result != SNI_NEED_MORE;
	CHECK(bad == 0);
	CHECK(parse(buf, hello_len).result == full);
}

static void test_captured(void)
{
	static const struct {
		const char *hex;
		enum sni_result result;
		const char *name;
		const char *alpn;
	} cases[] = {
	    {hello_tls13, SNI_FOUND, "x.example.org", NULL},
	    {hello_nosni, SNI_NONE, NULL, NULL},
	    {hello_tls12, SNI_FOUND, "x.example.org", NULL},
	    {hello_alpn, SNI_FOUND, "x.example.org", "\x02h2\x08http/1.1"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = check_unhex(in, cases[i].hex), hlen = record_len(in);
		struct parsed p = parse(in, n);

		CHECK(p.result == cases[i].result && p.reason == SNI_R_NONE);
		/* The trailing alert is not part of the hello. */
		CHECK(p.extra.hello_len == hlen && n == hlen + 7);
		if (cases[i].name) {
			CHECK(p.namelen == strlen(cases[i].name) && !strcmp(p.name, cases[i].name));
		} else {
			CHECK(p.namelen == 12345 && p.name[0] == 'Z');
		}
		CHECK(p.extra.alpn_present == !!cases[i].alpn);
		if (cases[i].alpn)
			CHECK(p.extra.alpn_len == strlen(cases[i].alpn) &&
			      !memcmp(p.extra.alpn, cases[i].alpn, p.extra.alpn_len));
		check_truncations(in, hlen, cases[i].result);
		/* Without extra, and with a buffer exactly big enough. */
		char small[14];
		size_t nl;
		CHECK(sni_parse(in, n, small, sizeof(small), &nl, NULL) == cases[i].result);
	}
}

static void test_fragmented(void)
{
	size_t msglen, len;
	struct parsed p;
	size_t one = 1, failures = 0;

	check_unhex(in, hello_tls13);
	msglen = record_len(in) - 5;

	/* Every split of the handshake message across two records. */
	for (size_t k = 1; k < msglen; k++) {
		size_t sizes[2] = {k, msglen};

		len = refragment(out, in, sizes, 2);
		p = parse(out, len);
		failures += p.result != SNI_FOUND || strcmp(p.name, "x.example.org") ||
			    p.extra.hello_len != len;
	}
	CHECK(failures == 0);
	/* Every truncation of one such split, including inside the second record's header. */
	size_t sizes[2] = {100, msglen};
	len = refragment(out, in, sizes, 2);
	check_truncations(out, len, SNI_FOUND);

	/* One byte per record: 6 bytes each, still under the cap. */
	len = refragment(out, in, &one, 1);
	CHECK(len == msglen * 6 && len < SNI_HELLO_MAX);
	p = parse(out, len);
	CHECK(p.result == SNI_FOUND && !strcmp(p.name, "x.example.org"));
	check_truncations(out, len, SNI_FOUND);

	/* Another record type in the middle of the handshake. */
	len = refragment(out, in, sizes, 2);
	out[105] = 0x15;
	p = parse(out, len);
	CHECK(p.result == SNI_BAD && p.reason == SNI_R_BAD_RECORD);
	CHECK(parse(out, 106).result == SNI_BAD);
}

/* ---- a ClientHello synthesiser for malformed cases ---- */

struct writer {
	uint8_t *b;
	size_t n;
};

static void put(struct writer *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void put8(struct writer *w, unsigned int v)
{
	w->b[w->n++] = (uint8_t)v;
}

static void put16(struct writer *w, unsigned int v)
{
	put8(w, v >> 8);
	put8(w, v);
}

/* Opens a length field of width bytes; close() fills it in, off by delta. */
static size_t open_len(struct writer *w, size_t width)
{
	size_t at = w->n;

	w->n += width;
	return at;
}

static void close_len(struct writer *w, size_t at, size_t width, int delta)
{
	size_t v = w->n - at - width + (size_t)delta;

	for (size_t i = 0; i < width; i++)
		w->b[at + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

struct hello_spec {
	const char *names[2]; /* host_name entries of server_name */
	int sni_exts;	      /* how many server_name extensions (default 1 when a name is set) */
	const char *alpn;     /* wire-format protocol list, NULL for none */
	size_t alpn_len;      /* when it holds a NUL */
	unsigned int version; /* legacy_version, default 0x0303 */
	int session_id_len;
	int cipher_len;	     /* default 2 */
	int compression_len; /* default 1 */
	bool no_extensions;
	int ext_delta, sni_list_delta, name_delta; /* corrupt these length fields */
	int sni_trailing;			   /* bytes inside server_name after its list */
	size_t pad;				   /* bytes of padding extension (RFC 7685) */
	int trailing;				   /* bytes after the extensions */
};

static size_t make_hello(uint8_t *dst, const struct hello_spec *s)
{
	struct writer w = {dst, 0};
	uint8_t zero[64] = {0};

	put8(&w, 0x16);
	put16(&w, 0x0301);
	size_t rec = open_len(&w, 2);
	put8(&w, 1);
	size_t msg = open_len(&w, 3);
	put16(&w, s->version ? s->version : 0x0303);
	put(&w, zero, 32);
	put8(&w, (unsigned int)s->session_id_len);
	put(&w, zero, (size_t)s->session_id_len);
	put16(&w, (unsigned int)(s->cipher_len ? s->cipher_len : 2));
	for (int i = 0; i < (s->cipher_len ? s->cipher_len : 2); i++)
		put8(&w, 0x13);
	put8(&w, (unsigned int)(s->compression_len >= 0 ? MAX(s->compression_len, 1) : 0));
	for (int i = 0; i < MAX(s->compression_len, 1) && s->compression_len >= 0; i++)
		put8(&w, 0);
	if (!s->no_extensions) {
		size_t exts = open_len(&w, 2);
		int sni_exts = s->names[0] ? (s->sni_exts ? s->sni_exts : 1) : 0;
		for (int e = 0; e < sni_exts; e++) {
			put16(&w, 0);
			size_t ext = open_len(&w, 2);
			size_t list = open_len(&w, 2);
			for (int i = 0; i < 2 && s->names[i]; i++) {
				put8(&w, 0);
				size_t name = open_len(&w, 2);
				put(&w, s->names[i], strlen(s->names[i]));
				close_len(&w, name, 2, s->name_delta);
			}
			close_len(&w, list, 2, s->sni_list_delta);
			for (int i = 0; i < s->sni_trailing; i++)
				put8(&w, 0);
			close_len(&w, ext, 2, 0);
		}
		if (s->alpn) {
			put16(&w, 16);
			size_t ext = open_len(&w, 2);
			size_t list = open_len(&w, 2);
			put(&w, s->alpn, s->alpn_len ? s->alpn_len : strlen(s->alpn));
			close_len(&w, list, 2, 0);
			close_len(&w, ext, 2, 0);
		}
		if (s->pad) {
			put16(&w, 21);
			put16(&w, (unsigned int)s->pad);
			memset(w.b + w.n, 0, s->pad);
			w.n += s->pad;
		}
		close_len(&w, exts, 2, s->ext_delta);
	}
	for (int i = 0; i < s->trailing; i++)
		put8(&w, 0);
	close_len(&w, msg, 3, 0);
	close_len(&w, rec, 2, 0);
	return w.n;
}

static void test_synthesised_valid(void)
{
	struct hello_spec s = {.names = {"A-b_c.Example.ORG"}, .alpn = "\x02h2"};
	size_t n = make_hello(in, &s);
	struct parsed p = parse(in, n);

	CHECK(p.result == SNI_FOUND && !strcmp(p.name, "a-b_c.example.org") && p.namelen == 17);
	CHECK(p.extra.alpn_len == 3 && !memcmp(p.extra.alpn, "\x02h2", 3));
	check_truncations(in, n, SNI_FOUND);

	/* An old-style hello without extensions is valid and names nothing. */
	s = (struct hello_spec){.no_extensions = true, .session_id_len = 32};
	n = make_hello(in, &s);
	CHECK(parse(in, n).result == SNI_NONE);
	check_truncations(in, n, SNI_NONE);

	/* A name of exactly 255 bytes in labels of 63. */
	char name[256];
	memset(name, 'a', 255);
	name[255] = '\0';
	name[63] = name[127] = name[191] = '.';
	s = (struct hello_spec){.names = {name}};
	n = make_hello(in, &s);
	p = parse(in, n);
	CHECK(p.result == SNI_FOUND && p.namelen == 255 && !strcmp(p.name, name));

	/* A host_name beside a name of another type, which is skipped. */
	s = (struct hello_spec){.names = {"a.org", "b.org"}};
	n = make_hello(in, &s);
	in[58] = 7; /* the first entry's name_type */
	p = parse(in, n);
	CHECK(p.result == SNI_FOUND && !strcmp(p.name, "b.org"));

	/* The largest hello the cap allows, padded, in one record. */
	s = (struct hello_spec){.names = {"big.example.org"}};
	s.pad = SNI_HELLO_MAX - make_hello(in, &s) - 4;
	n = make_hello(in, &s);
	CHECK(n == SNI_HELLO_MAX);
	CHECK(parse(in, n).result == SNI_FOUND);
	CHECK(parse(in, n - 1).result == SNI_NEED_MORE);
}

static void test_limits(void)
{
	struct hello_spec s = {.names = {"x.example.org"}};
	struct parsed p;
	size_t len, one = 1;

	/* One byte past the cap. */
	s.pad = SNI_HELLO_MAX - make_hello(in, &s) - 3;
	CHECK(make_hello(in, &s) == SNI_HELLO_MAX + 1);
	p = parse(in, 9);
	CHECK(p.result == SNI_BAD && p.reason == SNI_R_TOO_LONG);

	/* A declared message length beyond the cap fails on the handshake header alone. */
	const uint8_t huge[] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0xff, 0xff};
	p = parse(huge, sizeof(huge));
	CHECK(p.result == SNI_BAD && p.reason == SNI_R_TOO_LONG);

	/* A small hello dripped one byte per record would span more than the cap. */
	s.pad = 3000;
	make_hello(in, &s);
	len = refragment(out, in, &one, 1);
	CHECK(len > SNI_HELLO_MAX);
	p = parse(out, len);
	CHECK(p.result == SNI_BAD && p.reason == SNI_R_TOO_LONG);
	CHECK(parse(out, SNI_HELLO_MAX - 100).result == SNI_NEED_MORE);
	/* Records ending exactly at the cap with the hello unfinished: nothing more could fit. */
	size_t three = 3;
	s.pad = 8000;
	make_hello(in, &s);
	len = refragment(out, in, &three, 1);
	CHECK(len > SNI_HELLO_MAX && SNI_HELLO_MAX % 8 == 0);
	CHECK(parse(out, SNI_HELLO_MAX - 1).result == SNI_NEED_MORE);
	CHECK(parse(out, SNI_HELLO_MAX).reason == SNI_R_TOO_LONG);
}

struct bad_hello {
	const char *what;
	struct hello_spec spec;
	enum sni_reason reason;
};

static const char long_name[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aa"; /* 256 bytes */

static const struct bad_hello bad_hellos[] = {
    {"version 2.0", {.names = {"a.org"}, .version = 0x0200}, SNI_R_BAD_VERSION},
    {"session id 33", {.names = {"a.org"}, .session_id_len = 33}, SNI_R_BAD_LENGTH},
    {"odd cipher suites", {.names = {"a.org"}, .cipher_len = 3}, SNI_R_BAD_LENGTH},
    {"no compression", {.names = {"a.org"}, .compression_len = -1}, SNI_R_BAD_LENGTH},
    {"extensions short", {.names = {"a.org"}, .ext_delta = -1}, SNI_R_BAD_LENGTH},
    {"extensions long", {.names = {"a.org"}, .ext_delta = 1}, SNI_R_BAD_LENGTH},
    {"bytes after extensions", {.names = {"a.org"}, .trailing = 2}, SNI_R_BAD_LENGTH},
    {"name list short", {.names = {"a.org"}, .sni_list_delta = -1}, SNI_R_BAD_LENGTH},
    {"name list long", {.names = {"a.org"}, .sni_list_delta = 1}, SNI_R_BAD_LENGTH},
    {"bytes after name list", {.names = {"a.org"}, .sni_trailing = 1}, SNI_R_BAD_LENGTH},
    {"name long", {.names = {"a.org"}, .name_delta = 1}, SNI_R_BAD_LENGTH},
    {"name short", {.names = {"a.org"}, .name_delta = -1}, SNI_R_BAD_LENGTH},
    {"two host names", {.names = {"a.org", "b.org"}}, SNI_R_DUPLICATE},
    {"two server_name", {.names = {"a.org"}, .sni_exts = 2}, SNI_R_DUPLICATE},
    {"empty ALPN name",
     {.names = {"a.org"}, .alpn = "\x02h2\x00", .alpn_len = 4},
     SNI_R_BAD_LENGTH},
    {"ALPN overrun", {.names = {"a.org"}, .alpn = "\x05h2"}, SNI_R_BAD_LENGTH},
    {"space in name", {.names = {"a b.org"}}, SNI_R_BAD_NAME},
    {"empty label", {.names = {"a..org"}}, SNI_R_BAD_NAME},
    {"leading dot", {.names = {".a.org"}}, SNI_R_BAD_NAME},
    {"trailing dot", {.names = {"a.org."}}, SNI_R_BAD_NAME},
    {"non-ASCII", {.names = {"\xc3\xa9.org"}}, SNI_R_BAD_NAME},
    {"slash", {.names = {"a/b.org"}}, SNI_R_BAD_NAME},
    {"label of 64",
     {.names = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org"}},
     SNI_R_BAD_NAME},
    {"name of 256", {.names = {long_name}}, SNI_R_NAME_TOO_LONG},
};

static void test_malformed(void)
{
	struct parsed p;
	size_t n;

	CHECK(strlen(long_name) == 256);
	for (size_t i = 0; i < ARRAY_SIZE(bad_hellos); i++) {
		n = make_hello(in, &bad_hellos[i].spec);
		p = parse(in, n);
		CHECK(p.result == SNI_BAD && p.reason == bad_hellos[i].reason);
		if (p.result != SNI_BAD || p.reason != bad_hellos[i].reason)
			fprintf(stderr, "  case \"%s\": result %d reason %s\n", bad_hellos[i].what,
				p.result, sni_reason_str(p.reason));
		/* A broken hello is never mistaken for a complete one before its end. */
		for (size_t k = 0; k < n; k++)
			CHECK(parse(in, k).result == SNI_NEED_MORE ||
			      parse(in, k).result == SNI_BAD);
	}

	/* The caller's buffer bounds the name. */
	char small[13];
	size_t nl;
	struct sni_extra x;
	n = check_unhex(in, hello_tls13);
	CHECK(sni_parse(in, n, small, sizeof(small), &nl, &x) == SNI_BAD);
	CHECK(x.reason == SNI_R_NAME_TOO_LONG);
}

static void test_not_tls(void)
{
	const char *http = "GET / HTTP/1.1\r\n";
	const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
	const uint8_t appdata[] = {0x17, 0x03, 0x03, 0x00, 0x10};
	const uint8_t badver[] = {0x16, 0x02, 0x00};
	const uint8_t minor[] = {0x16, 0x03, 0x05};
	const uint8_t empty_rec[] = {0x16, 0x03, 0x01, 0x00, 0x00};
	const uint8_t big_rec[] = {0x16, 0x03, 0x01, 0x40, 0x01};
	const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00};
	struct parsed p;

	/* The first byte decides. */
	p = parse((const uint8_t *)http, 1);
	CHECK(p.result == SNI_BAD && p.reason == SNI_R_NOT_TLS);
	CHECK(parse(sslv2, 1).reason == SNI_R_NOT_TLS);
	CHECK(parse(appdata, sizeof(appdata)).reason == SNI_R_NOT_TLS);
	CHECK(parse(badver, sizeof(badver)).reason == SNI_R_NOT_TLS);
	CHECK(parse(minor, sizeof(minor)).reason == SNI_R_NOT_TLS);
	CHECK(parse(empty_rec, sizeof(empty_rec)).reason == SNI_R_BAD_RECORD);
	CHECK(parse(big_rec, sizeof(big_rec)).reason == SNI_R_BAD_RECORD);
	p = parse(server_hello, sizeof(server_hello));
	CHECK(p.result == SNI_BAD && p.reason == SNI_R_NOT_HELLO);
	CHECK(parse(server_hello, 5).result == SNI_NEED_MORE);
	CHECK(parse(NULL, 0).result == SNI_NEED_MORE);
	CHECK(!strcmp(sni_reason_str(SNI_R_NOT_TLS), "not TLS"));
}

/* Random bytes and mutated real hellos: never a read past len, a found name is always a valid
 * lowercase name, and the verdict on the whole input equals that on its ClientHello alone. */
static void test_random(void)
{
	const char *sources[] = {hello_tls13, hello_nosni, hello_tls12, hello_alpn};
	unsigned int seen[4] = {0};

	for (int i = 0; i < 20000; i++) {
		size_t n;

		if (i % 4 == 0) {
			n = 1 + rnd() % 400;
			for (size_t k = 0; k < n; k++)
				in[k] = (uint8_t)rnd();
			memcpy(in, "\x16\x03\x01", 3);
		} else {
			n = check_unhex(in, sources[rnd() % ARRAY_SIZE(sources)]);
			for (int k = rnd() % 3; k >= 0; k--)
				in[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		}
		/* A copy of exactly n bytes, so ASan sees any over-read. */
		uint8_t *copy = malloc(n);
		memcpy(copy, in, n);
		struct parsed p = parse(copy, n);
		seen[p.result]++;
		if (p.result == SNI_FOUND) {
			CHECK(p.namelen && p.namelen <= SNI_NAME_MAX &&
			      strlen(p.name) == p.namelen);
			for (size_t k = 0; k < p.namelen; k++)
				CHECK(p.name[k] < 'A' || p.name[k] > 'Z');
		}
		if (p.result == SNI_FOUND || p.result == SNI_NONE) {
			CHECK(p.extra.hello_len <= n);
			CHECK(parse(copy, p.extra.hello_len).result == p.result);
		}
		free(copy);
	}
	CHECK(seen[SNI_FOUND] && seen[SNI_NONE] && seen[SNI_BAD] && seen[SNI_NEED_MORE]);
}

static void test_match(void)
{
	CHECK(sni_match("x.example.org", "x.example.org"));
	CHECK(sni_match("X.Example.ORG", "x.example.org"));
	CHECK(!sni_match("x.example.org", "y.example.org"));
	CHECK(!sni_match("x.example.org", "x.example.org.evil"));
	CHECK(!sni_match("example.org", "x.example.org"));
	CHECK(sni_match("*.example.org", "a.example.org"));
	CHECK(sni_match("*.example.org", "a.b.example.org"));
	CHECK(sni_match("*.Example.org", "a.example.org"));
	CHECK(!sni_match("*.example.org", "example.org"));
	CHECK(!sni_match("*.example.org", "aexample.org"));
	CHECK(!sni_match("*.example.org", ".example.org"));
	CHECK(!sni_match("*.example.org", "a.example.org.evil"));
	CHECK(!sni_match("*.example.org", "a.notexample.org"));
	CHECK(sni_match("*", "anything.at.all"));
	CHECK(!sni_match("*", ""));
	CHECK(!sni_match("a*.example.org", "ab.example.org"));
	CHECK(!sni_match("*.", "a."));
}

int main(void)
{
	RUN(test_captured);
	RUN(test_fragmented);
	RUN(test_synthesised_valid);
	RUN(test_limits);
	RUN(test_malformed);
	RUN(test_not_tls);
	RUN(test_random);
	RUN(test_match);
	return check_done("sni");
}
