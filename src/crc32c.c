#include "crc32c.h"

/* The reflected form of the Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* Bitwise rather than table-driven: it runs once per PROXY header of at most 2 KiB, and needs
 * neither a 1 KiB table nor an initialisation step shared between threads. */
uint32_t crc32c_update(uint32_t crc, const uint8_t *data, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= data[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (CRC32C_POLY_REFLECTED & -(crc & 1));
	}
	return ~crc;
}
