/* Reads the server name (SNI, RFC 6066 section 3) and ALPN list (RFC 7301) from the TLS
 * ClientHello at the start of a connection, without decrypting or answering anything, so the
 * gateway can choose a backend before it forwards the first byte.
 *
 * sni_parse() keeps no state: the caller accumulates the connection's first bytes and calls it
 * again on the whole prefix after each read, until it gives an answer other than SNI_NEED_MORE
 * or SNI_HELLO_MAX bytes have arrived. */
#ifndef PORTHOLE_SNI_H
#define PORTHOLE_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"

enum sni_limits {
	SNI_HELLO_MAX = 16384, /* records carrying the ClientHello, headers included */
	SNI_NAME_MAX = 255,    /* a DNS name's limit; a name buffer needs one byte more */
	SNI_ALPN_MAX = 512,    /* longer ALPN lists are validated but not copied */
};

enum sni_result {
	SNI_NEED_MORE, /* a valid prefix of a ClientHello */
	SNI_FOUND,     /* name holds the lowercased host name */
	SNI_NONE,      /* a complete, valid ClientHello without server_name */
	SNI_BAD,
};

enum sni_reason {
	SNI_R_NONE,
	SNI_R_NOT_TLS,	  /* not a TLS handshake record */
	SNI_R_BAD_RECORD, /* record version or length */
	SNI_R_NOT_HELLO,  /* a handshake message other than ClientHello */
	SNI_R_TOO_LONG,	  /* ClientHello beyond SNI_HELLO_MAX */
	SNI_R_BAD_LENGTH, /* a length field disagrees with its container */
	SNI_R_BAD_VERSION,
	SNI_R_DUPLICATE,     /* an extension or name type given twice */
	SNI_R_BAD_NAME,	     /* characters, empty labels, trailing dot */
	SNI_R_NAME_TOO_LONG, /* over SNI_NAME_MAX, or over the caller's buffer */
};

/* Optional details of a parse. */
struct sni_extra {
	enum sni_reason reason;
	size_t hello_len; /* bytes of records the ClientHello took, on FOUND or NONE */
	bool alpn_present;
	uint16_t alpn_len;	    /* 0 when absent or longer than SNI_ALPN_MAX */
	uint8_t alpn[SNI_ALPN_MAX]; /* the ProtocolNameList, wire format: length-prefixed names */
};

/* name receives a NUL-terminated name (namecap >= SNI_NAME_MAX + 1 fits every valid one) and
 * *namelen its length, on SNI_FOUND only. extra may be NULL. */
enum sni_result sni_parse(const uint8_t *buf, size_t len, char *name, size_t namecap,
			  size_t *namelen, struct sni_extra *extra) WARN_UNUSED;

const char *sni_reason_str(enum sni_reason reason);

/* Case-insensitive match of a configured pattern against a name from sni_parse(). A pattern is
 * an exact name, or "*.suffix", which like HAProxy's and nginx's leading wildcards matches any
 * name ending in ".suffix" with one or more labels before it: "*.example.org" matches
 * "a.example.org" and "a.b.example.org" but not "example.org". The pattern "*" alone matches
 * every name. */
bool sni_match(const char *pattern, const char *name) WARN_UNUSED;

#endif
