/*
 * The simulated ROM's CRC-32 (esp_rom_crc.h): esp_rom_crc32_le as the ESP32 ROM computes it, the
 * reflected CRC-32 of zlib (polynomial 0xEDB88320), chained as zlib's crc32(crc, buf, len) is: the
 * value passed in is the CRC of what came before, 0 for nothing.
 */
#include <stddef.h>
#include <stdint.h>

#include "esp_rom_crc.h"

static uint32_t table[256];
static int tableBuilt;

static void build_table(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		table[n] = c;
	}
	tableBuilt = 1;
}

uint32_t esp_rom_crc32_le(uint32_t crc, uint8_t const *buf, uint32_t len)
{
	if (!tableBuilt)
		build_table();
	uint32_t c = ~crc;
	for (uint32_t i = 0; i < len; i++)
		c = table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
	return ~c;
}
