/* CRC32C (Castagnoli), the checksum of RFC 4960 appendix B that the PROXY protocol v2 CRC32C TLV
 * carries. A checksum against accidental corruption, not a MAC: it lives outside crypto.h. */
#ifndef PORTHOLE_CRC32C_H
#define PORTHOLE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a running CRC: start with crc32c_update(0, ...) and pass each result back in. */
uint32_t crc32c_update(uint32_t crc, const uint8_t *data, size_t len);

static inline uint32_t crc32c(const uint8_t *data, size_t len)
{
	return crc32c_update(0, data, len);
}

#endif
