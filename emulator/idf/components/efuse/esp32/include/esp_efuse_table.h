// Emulator copy of the part of ESP-IDF's efuse/esp32/include/esp_efuse_table.h
// the firmware reads: the secure boot fields. As in IDF, the original ESP32 has ABS_DONE_0 (secure
// boot V1) and ABS_DONE_1 (V2); the later chips have SECURE_BOOT_EN. The simulated chip answers
// esp_efuse_read_field_bit for them from its espefuse image.
#pragma once

#include "sdkconfig.h"
#include "esp_efuse.h"

#ifdef __cplusplus
extern "C" {
#endif

#if CONFIG_IDF_TARGET_ESP32
extern const esp_efuse_desc_t *ESP_EFUSE_ABS_DONE_0[];
extern const esp_efuse_desc_t *ESP_EFUSE_ABS_DONE_1[];
#else
extern const esp_efuse_desc_t *ESP_EFUSE_SECURE_BOOT_EN[];
#endif

#ifdef __cplusplus
}
#endif
