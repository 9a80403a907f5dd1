// Emulator copy of ESP-IDF's esp_rom_crc.h (components/esp_rom): the CRC-32 the chip's ROM provides,
// with the same signature. sim_rom.c implements it; on a board the call goes to the ROM.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * CRC32 value in little endian (CRC-32/ISO-HDLC, zlib's crc32): crc is the result of the last
 * calculation, or 0 for the first time.
 */
uint32_t esp_rom_crc32_le(uint32_t crc, uint8_t const *buf, uint32_t len);

#ifdef __cplusplus
}
#endif
