#include <string.h>
#include <strings.h>
#include "sni.h"

/* Wire constants of RFC 8446 (record layer 5.1, handshake 4, ClientHello 4.1.2), RFC 6066
 * section 3 (server_name) and RFC 7301 section 3.1 (ALPN). */
enum tls_values {
	TLS_RECORD_HEAD = 5,
	TLS_RECORD_MAX = 1 << 14, /* TLSPlaintext.length */
	TLS_HANDSHAKE_HEAD = 4,
	TLS_CONTENT_HANDSHAKE = 22,
	TLS_MAJOR = 3,
	TLS_MINOR_MAX = 4,
	TLS_CLIENT_HELLO = 1,
	TLS_RANDOM_LEN = 32,
	TLS_SESSION_ID_MAX = 32,
	TLS_EXT_SERVER_NAME = 0,
	TLS_EXT_ALPN = 16,
	SNI_HOST_NAME = 0,
	DNS_LABEL_MAX = 63,
};

/* The handshake message, reassembled from however many records carry it. */
struct hello {
	uint8_t msg[SNI_HELLO_MAX];
	size_t have; /* message bytes collected */
	size_t need; /* header plus body length, once the header is in */
	size_t end;  /* offset in the input just past the last message byte */
};

/* A bounded reader over one length-delimited field. */
struct cursor {
	const uint8_t *p;
	size_t n;
};

static bool take(struct cursor *c, size_t len, struct cursor *out)
{
	if (len > c->n)
		return false;
	*out = (struct cursor){c->p, len};
	c->p += len;
	c->n -= len;
	return true;
}

static bool u8(struct cursor *c, size_t *v)
{
	struct cursor b;

	if (!take(c, 1, &b))
		return false;
	*v = b.p[0];
	return true;
}

static bool u16(struct cursor *c, size_t *v)
{
	struct cursor b;

	if (!take(c, 2, &b))
		return false;
	*v = (size_t)b.p[0] << 8 | b.p[1];
	return true;
}

static bool vec8(struct cursor *c, struct cursor *out)
{
	size_t len;

	return u8(c, &len) && take(c, len, out);
}

static bool vec16(struct cursor *c, struct cursor *out)
{
	size_t len;

	return u16(c, &len) && take(c, len, out);
}

/* ---- records ---- */

/* Judges the bytes of a record header present so far. The first record decides whether this is
 * TLS at all; a later one breaking the pattern is a broken handshake. */
static enum sni_reason record_head(const uint8_t *b, size_t avail, bool first)
{
	enum sni_reason not_tls = first ? SNI_R_NOT_TLS : SNI_R_BAD_RECORD;
	size_t len;

	if (avail >= 1 && b[0] != TLS_CONTENT_HANDSHAKE)
		return not_tls;
	if (avail >= 2 && b[1] != TLS_MAJOR)
		return not_tls;
	if (avail >= 3 && b[2] > TLS_MINOR_MAX)
		return not_tls;
	if (avail < TLS_RECORD_HEAD)
		return SNI_R_NONE;
	len = (size_t)b[3] << 8 | b[4];
	/* Handshake records may not be empty (RFC 8446 section 5.1). */
	return len && len <= TLS_RECORD_MAX ? SNI_R_NONE : SNI_R_BAD_RECORD;
}

static enum sni_reason message_head(struct hello *h)
{
	size_t body;

	if (h->msg[0] != TLS_CLIENT_HELLO)
		return SNI_R_NOT_HELLO;
	body = (size_t)h->msg[1] << 16 | (size_t)h->msg[2] << 8 | h->msg[3];
	h->need = TLS_HANDSHAKE_HEAD + body;
	return h->need + TLS_RECORD_HEAD > SNI_HELLO_MAX ? SNI_R_TOO_LONG : SNI_R_NONE;
}

/* Copies one record's share of the message; returns the input bytes it spans. */
static size_t collect(struct hello *h, const uint8_t *frag, size_t len, enum sni_reason *r)
{
	size_t want = (h->need ? h->need : TLS_HANDSHAKE_HEAD) - h->have;
	size_t n = MIN(want, len);

	memcpy(h->msg + h->have, frag, n);
	h->have += n;
	if (!h->need && h->have == TLS_HANDSHAKE_HEAD) {
		*r = message_head(h);
		if (*r == SNI_R_NONE && n < len)
			n += collect(h, frag + n, len - n, r);
	}
	return n;
}

static bool complete(const struct hello *h)
{
	return h->need && h->have == h->need;
}

/* Reassembles the ClientHello; SNI_NEED_MORE until all of it is in. */
static enum sni_result gather(struct hello *h, const uint8_t *buf, size_t len, enum sni_reason *r)
{
	size_t off = 0;

	*r = SNI_R_NONE;
	while (!complete(h)) {
		size_t avail = len - off, rlen, part;

		if (off >= SNI_HELLO_MAX)
			*r = SNI_R_TOO_LONG;
		else
			*r = record_head(buf + off, avail, off == 0);
		if (*r != SNI_R_NONE)
			return SNI_BAD;
		if (avail <= TLS_RECORD_HEAD)
			return SNI_NEED_MORE;
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		off += TLS_RECORD_HEAD;
		part = MIN(rlen, len - off);
		h->end = off + collect(h, buf + off, part, r);
		if (*r == SNI_R_NONE && h->end > SNI_HELLO_MAX)
			*r = SNI_R_TOO_LONG;
		if (*r != SNI_R_NONE)
			return SNI_BAD;
		if (!complete(h) && part < rlen)
			return SNI_NEED_MORE;
		off += rlen;
	}
	return SNI_FOUND;
}

/* ---- ClientHello ---- */

struct found {
	struct cursor name;
	bool has_name, has_sni, has_alpn;
	struct cursor alpn;
};

static enum sni_reason server_name(struct cursor ext, struct found *f)
{
	struct cursor list;

	if (f->has_sni)
		return SNI_R_DUPLICATE;
	f->has_sni = true;
	if (!vec16(&ext, &list) || ext.n || !list.n)
		return SNI_R_BAD_LENGTH;
	while (list.n) {
		struct cursor host;
		size_t type;

		if (!u8(&list, &type) || !vec16(&list, &host) || !host.n)
			return SNI_R_BAD_LENGTH;
		if (type != SNI_HOST_NAME)
			continue;
		/* RFC 6066: at most one name of each type. */
		if (f->has_name)
			return SNI_R_DUPLICATE;
		f->name = host;
		f->has_name = true;
	}
	return SNI_R_NONE;
}

static enum sni_reason alpn(struct cursor ext, struct found *f)
{
	struct cursor list, proto;

	if (f->has_alpn)
		return SNI_R_DUPLICATE;
	f->has_alpn = true;
	if (!vec16(&ext, &list) || ext.n || !list.n)
		return SNI_R_BAD_LENGTH;
	f->alpn = list;
	while (list.n)
		if (!vec8(&list, &proto) || !proto.n)
			return SNI_R_BAD_LENGTH;
	return SNI_R_NONE;
}

static enum sni_reason extensions(struct cursor c, struct found *f)
{
	struct cursor all, data;
	enum sni_reason r = SNI_R_NONE;

	/* Extensions are optional before TLS 1.3, but when present they end the message. */
	if (!c.n)
		return SNI_R_NONE;
	if (!vec16(&c, &all) || c.n)
		return SNI_R_BAD_LENGTH;
	while (all.n && r == SNI_R_NONE) {
		size_t type;

		if (!u16(&all, &type) || !vec16(&all, &data))
			return SNI_R_BAD_LENGTH;
		if (type == TLS_EXT_SERVER_NAME)
			r = server_name(data, f);
		else if (type == TLS_EXT_ALPN)
			r = alpn(data, f);
	}
	return r;
}

static enum sni_reason client_hello(const struct hello *h, struct found *f)
{
	struct cursor c = {h->msg + TLS_HANDSHAKE_HEAD, h->need - TLS_HANDSHAKE_HEAD}, v;
	size_t version;

	if (!u16(&c, &version))
		return SNI_R_BAD_LENGTH;
	if (version >> 8 != TLS_MAJOR)
		return SNI_R_BAD_VERSION;
	if (!take(&c, TLS_RANDOM_LEN, &v) || !vec8(&c, &v) || v.n > TLS_SESSION_ID_MAX)
		return SNI_R_BAD_LENGTH;
	/* cipher_suites<2..2^16-2>, two bytes each; compression_methods<1..2^8-1> */
	if (!vec16(&c, &v) || v.n < 2 || v.n % 2)
		return SNI_R_BAD_LENGTH;
	if (!vec8(&c, &v) || !v.n)
		return SNI_R_BAD_LENGTH;
	return extensions(c, f);
}

/* ---- the name ---- */

static bool host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Letters, digits, hyphen and (seen in the wild) underscore, in labels of 1 to 63 bytes; no
 * trailing dot, as RFC 6066 sends none. */
static enum sni_reason copy_name(struct cursor host, char *name, size_t namecap)
{
	size_t label = 0;

	if (host.n > SNI_NAME_MAX || host.n >= namecap)
		return SNI_R_NAME_TOO_LONG;
	for (size_t i = 0; i < host.n; i++) {
		uint8_t c = host.p[i];

		if (c == '.' ? !label : !host_char(c))
			return SNI_R_BAD_NAME;
		label = c == '.' ? 0 : label + 1;
		if (label > DNS_LABEL_MAX)
			return SNI_R_BAD_NAME;
		name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (!label)
		return SNI_R_BAD_NAME;
	name[host.n] = '\0';
	return SNI_R_NONE;
}

static void fill_extra(struct sni_extra *x, enum sni_reason r, const struct hello *h,
		       const struct found *f)
{
	bool ok = r == SNI_R_NONE && complete(h);

	x->reason = r;
	x->hello_len = ok ? h->end : 0;
	x->alpn_present = ok && f->has_alpn;
	x->alpn_len = 0;
	if (x->alpn_present && f->alpn.n <= SNI_ALPN_MAX) {
		memcpy(x->alpn, f->alpn.p, f->alpn.n);
		x->alpn_len = (uint16_t)f->alpn.n;
	}
}

enum sni_result sni_parse(const uint8_t *buf, size_t len, char *name, size_t namecap,
			  size_t *namelen, struct sni_extra *extra)
{
	struct hello h; /* not zeroed: only its first have bytes are ever read */
	struct found f = {.has_name = false};
	enum sni_reason r;
	enum sni_result result;

	h.have = h.need = h.end = 0;
	result = gather(&h, buf, len, &r);

	if (result == SNI_FOUND)
		r = client_hello(&h, &f);
	if (result == SNI_FOUND && r == SNI_R_NONE && f.has_name)
		r = copy_name(f.name, name, namecap);
	if (r != SNI_R_NONE)
		result = SNI_BAD;
	else if (result == SNI_FOUND && !f.has_name)
		result = SNI_NONE;
	if (result == SNI_FOUND)
		*namelen = f.name.n;
	if (extra)
		fill_extra(extra, r, &h, &f);
	return result;
}

const char *sni_reason_str(enum sni_reason reason)
{
	static const char *const names[] = {
	    [SNI_R_NONE] = "none",
	    [SNI_R_NOT_TLS] = "not TLS",
	    [SNI_R_BAD_RECORD] = "bad record",
	    [SNI_R_NOT_HELLO] = "not a ClientHello",
	    [SNI_R_TOO_LONG] = "too long",
	    [SNI_R_BAD_LENGTH] = "bad length",
	    [SNI_R_BAD_VERSION] = "bad version",
	    [SNI_R_DUPLICATE] = "duplicate",
	    [SNI_R_BAD_NAME] = "bad name",
	    [SNI_R_NAME_TOO_LONG] = "name too long",
	};

	if ((unsigned int)reason >= ARRAY_SIZE(names) || !names[reason])
		return "unknown";
	return names[reason];
}

bool sni_match(const char *pattern, const char *name)
{
	size_t plen = strlen(pattern), nlen = strlen(name);

	if (!strcmp(pattern, "*"))
		return nlen > 0;
	if (plen > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* Compare ".suffix", and demand at least one byte of label before it. */
		const char *suffix = pattern + 1;

		return nlen > plen - 1 && !strcasecmp(name + nlen - (plen - 1), suffix);
	}
	return !strcasecmp(pattern, name);
}
