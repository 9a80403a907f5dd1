// Emulator copy of the esp_secure_boot_enabled() query of ESP-IDF's esp_secure_boot.h
// (components/bootloader_support). A function here, a static inline over the eFuse HAL in IDF.
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** SECURE_BOOT_EN; on the original ESP32, ABS_DONE_1 (the Secure Boot V2 branch of IDF's inline). */
bool esp_secure_boot_enabled(void);

#ifdef __cplusplus
}
#endif
