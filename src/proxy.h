/* The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's doc/proxy-protocol.txt
 * specifies it: a builder for each version and one streaming parser for both.
 *
 * The codec is pure: it takes bytes, never reads a clock or touches a socket. The spec wants the
 * receiver to give up when no complete header arrived within a few seconds (at least 3, to cover
 * a TCP retransmit): the caller stores the accept time in pp_parser.started_ns and asks
 * pp_parser_expired() on each wakeup, so slow dripping cannot extend the deadline. */
#ifndef PORTHOLE_PROXY_H
#define PORTHOLE_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "compat.h"

enum pp_limits {
	PP_V1_MAX = 107,      /* longest v1 line, "PROXY UNKNOWN <v6> <v6> 65535 65535\r\n" */
	PP_V2_HEAD = 16,      /* signature, version/command, family/transport, length */
	PP_HEADER_MAX = 2048, /* our cap on a whole v2 header */
	PP_V2_LEN_MAX = PP_HEADER_MAX - PP_V2_HEAD,
	PP_V2_SIG_LEN = 12,
	PP_ALPN_MAX = 255,
	PP_AUTHORITY_MAX = 255,
	PP_UNIQUE_ID_MAX = 128, /* the spec's bound */
	PP_DETECT_MAX = 5,	/* bytes a non-PROXY stream can lose to detection, see pp_parse() */
};
#define PP_TIMEOUT_NS (3 * NSEC_PER_SEC)

/* Versions a parser accepts, for pp_parser_init(). */
#define PP_ACCEPT_V1  (1u << 1)
#define PP_ACCEPT_V2  (1u << 2)
#define PP_ACCEPT_ANY (PP_ACCEPT_V1 | PP_ACCEPT_V2)

enum pp_command { PP_CMD_LOCAL = 0, PP_CMD_PROXY = 1 };
enum pp_transport { PP_TRANSPORT_UNSPEC = 0, PP_TRANSPORT_STREAM = 1, PP_TRANSPORT_DGRAM = 2 };

/* Presence flags for the optional parts of a header. */
enum pp_tlv_flags {
	PP_HAS_ALPN = 1u << 0,
	PP_HAS_AUTHORITY = 1u << 1,
	PP_HAS_UNIQUE_ID = 1u << 2,
	PP_HAS_CRC32C = 1u << 3,
};

/* Addresses in network order, ports in host order. family is AF_INET, AF_INET6, or AF_UNSPEC
 * when the header carries no usable address (v1 UNKNOWN, v2 LOCAL, UNSPEC or UNIX): the
 * receiver then uses the real connection endpoints. */
struct pp_addr {
	sa_family_t family;
	uint8_t transport; /* enum pp_transport */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} src, dst;
	uint16_t src_port, dst_port;
};

struct pp_header {
	uint8_t version; /* 1 or 2 */
	uint8_t command; /* enum pp_command; v1 headers are always PROXY */
	struct pp_addr addr;
	unsigned int present; /* enum pp_tlv_flags */
	uint16_t alpn_len;
	uint16_t authority_len;
	uint16_t unique_id_len;
	uint8_t alpn[PP_ALPN_MAX];
	char authority[PP_AUTHORITY_MAX + 1]; /* NUL-terminated too, for logging */
	uint8_t unique_id[PP_UNIQUE_ID_MAX];
	uint32_t crc32c;	   /* as received; verified before PP_DONE */
	unsigned int skipped_tlvs; /* NOOP and types we do not interpret */
};

/* Returns the header's length, or -ENOSPC when cap is too small, -EINVAL for a header that
 * cannot be expressed, -EPROTONOSUPPORT for UDP (v1 names TCP only). LOCAL or AF_UNSPEC gives
 * "PROXY UNKNOWN\r\n". out is NUL-terminated: cap must leave room for the NUL, which the length
 * excludes. */
int pp_build_v1(char *out, size_t cap, const struct pp_header *hdr) WARN_UNUSED;

/* Flags for pp_build_v2(). The TLVs sent are those flagged in hdr->present. */
#define PP_BUILD_CRC32C (1u << 0)
/* Returns the header's length, or -ENOSPC or -EINVAL as pp_build_v1(). */
int pp_build_v2(uint8_t *out, size_t cap, const struct pp_header *hdr,
		unsigned int flags) WARN_UNUSED;

enum pp_result {
	PP_NEED_MORE,
	PP_DONE,
	PP_NOT_PROXY, /* the stream does not start with an accepted PROXY header */
	PP_BAD,
};

/* HAProxy's vocabulary, then the specific faults. */
enum pp_reason {
	PP_R_NONE,
	PP_R_EMPTY,   /* closed before any byte */
	PP_R_ABORTED, /* closed within the header */
	PP_R_TIMED_OUT,
	PP_R_TRUNCATED, /* v1 line with missing fields */
	PP_R_NOT_HEADER,
	PP_R_BAD_HEADER,
	PP_R_BAD_PROTOCOL,
	PP_R_BAD_SIGNATURE,
	PP_R_BAD_VERSION,
	PP_R_BAD_COMMAND,
	PP_R_TOO_LONG,
	PP_R_FAMILY_MISMATCH,
	PP_R_BAD_ADDRESS,
	PP_R_BAD_PORT,
	PP_R_BAD_TLV,
	PP_R_BAD_CRC,
};

struct pp_parser {
	uint64_t started_ns; /* set by the caller at accept, for pp_parser_expired() */
	unsigned int accept; /* PP_ACCEPT_* */
	enum pp_result state;
	enum pp_reason reason;
	uint8_t version; /* 0 until the first bytes decide */
	uint16_t have;	 /* bytes buffered */
	uint16_t need;	 /* v2: whole header length once its fixed part is in */
	uint8_t buf[PP_HEADER_MAX];
};

void pp_parser_init(struct pp_parser *p, unsigned int accept_versions);

/* Feeds the next len bytes of the stream; each byte is fed once. *consumed counts the bytes of
 * buf that belong to the header, never one past its end, so on PP_DONE the payload starts at
 * buf + *consumed. Only the accepted versions are recognised. PP_NOT_PROXY comes as soon as the
 * bytes rule out every accepted signature (after one byte for "GET " or a TLS record) with
 * *consumed = 0; the up to PP_DETECT_MAX - 1 bytes taken by earlier calls are then returned by
 * pp_parser_replay(). After PP_DONE, PP_NOT_PROXY or PP_BAD the result sticks. */
enum pp_result pp_parse(struct pp_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
			struct pp_header *out) WARN_UNUSED;

/* The bytes earlier calls took before PP_NOT_PROXY; they belong to the plain stream. */
const uint8_t *pp_parser_replay(const struct pp_parser *p, size_t *len);

/* For the caller's I/O: the peer closed (reason empty or aborted), or the deadline passed
 * (reason timed out). Both turn an unfinished parse into PP_BAD. */
enum pp_result pp_parser_eof(struct pp_parser *p);
bool pp_parser_expired(struct pp_parser *p, uint64_t now_ns) WARN_UNUSED;

const char *pp_reason_str(enum pp_reason reason);

/* Fills addresses from a connection's peer and local socket addresses; a v4-mapped IPv6 pair
 * becomes AF_INET, as a dual-stack listener sees IPv4 clients. Returns 0 or -EAFNOSUPPORT. */
int pp_addr_set(struct pp_addr *a, enum pp_transport transport, const struct sockaddr *src,
		const struct sockaddr *dst);
/* The reverse, for a parsed header; -EAFNOSUPPORT when the family is AF_UNSPEC. */
int pp_addr_get(const struct pp_addr *a, struct sockaddr_storage *src,
		struct sockaddr_storage *dst);

#endif
