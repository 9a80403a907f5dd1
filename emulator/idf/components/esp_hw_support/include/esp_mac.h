// Emulator copy of ESP-IDF's esp_mac.h (components/esp_hw_support): the factory MAC.
#pragma once

#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Factory-programmed base MAC (eFuse MAC field), 6 bytes. On chips with IEEE 802.15.4 (C6, H2) IDF
 * writes 8 bytes (EUI-64); the emulator writes 6, as for MAC-48.
 * @return ESP_OK; ESP_ERR_INVALID_ARG if mac is NULL; ESP_ERR_INVALID_CRC (original ESP32) on a bad CRC.
 */
esp_err_t esp_efuse_mac_get_default(uint8_t *mac);

#ifdef __cplusplus
}
#endif
