// Emulator copy of ESP-IDF's efuse/esp32/include/esp_efuse_chip.h: the original ESP32's four blocks
// (BLOCK1..3 are its key blocks) and its purposes, which have no HMAC_UP.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	EFUSE_BLK0              = 0,
	EFUSE_BLK1              = 1,
	EFUSE_BLK_KEY0          = 1,
	EFUSE_BLK_ENCRYPT_FLASH = 1,
	EFUSE_BLK2              = 2,
	EFUSE_BLK_KEY1          = 2,
	EFUSE_BLK_SECURE_BOOT   = 2,
	EFUSE_BLK3              = 3,
	EFUSE_BLK_KEY2          = 3,
	EFUSE_BLK_KEY_MAX       = 4,
	EFUSE_BLK_MAX           = 4,
} esp_efuse_block_t;

typedef enum {
	ESP_EFUSE_KEY_PURPOSE_USER = 0,
	ESP_EFUSE_KEY_PURPOSE_SYSTEM = 1,
	ESP_EFUSE_KEY_PURPOSE_FLASH_ENCRYPTION = 2,
	ESP_EFUSE_KEY_PURPOSE_SECURE_BOOT_V2 = 3,
	ESP_EFUSE_KEY_PURPOSE_MAX,
} esp_efuse_purpose_t;

#ifdef __cplusplus
}
#endif
