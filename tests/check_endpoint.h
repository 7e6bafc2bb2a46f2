/* Test helper: an endpoint from address text ("192.0.2.1" or "2001:db8::1"), a port and an IPv6
 * scope; all zero when the text is neither. */
#ifndef PORTHOLE_CHECK_ENDPOINT_H
#define PORTHOLE_CHECK_ENDPOINT_H

#include <arpa/inet.h>
#include <string.h>
#include "udp.h"

static inline struct endpoint check_endpoint(const char *addr, uint16_t port, uint32_t scope)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct endpoint ep;

	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
	} else {
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		in6->sin6_scope_id = scope;
	}
	if (endpoint_set(&ep, (struct sockaddr *)&ss, sizeof(ss)) < 0)
		memset(&ep, 0, sizeof(ep));
	return ep;
}

#endif
