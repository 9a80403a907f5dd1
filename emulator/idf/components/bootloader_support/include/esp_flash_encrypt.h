// Emulator copy of the esp_flash_encryption_enabled() query of ESP-IDF's esp_flash_encrypt.h.
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An odd number of bits set in SPI_BOOT_CRYPT_CNT (FLASH_CRYPT_CNT on the original ESP32). */
bool esp_flash_encryption_enabled(void);

#ifdef __cplusplus
}
#endif
