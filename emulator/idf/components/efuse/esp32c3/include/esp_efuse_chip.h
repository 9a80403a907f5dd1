// Emulator copy of ESP-IDF's efuse/esp32c3/include/esp_efuse_chip.h: block numbers and the key purpose
// values (no XTS-AES-256 on this chip: purposes 2 and 3 are not defined).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	EFUSE_BLK0                 = 0,
	EFUSE_BLK1                 = 1,
	EFUSE_BLK2                 = 2,
	EFUSE_BLK_SYS_DATA_PART1   = 2,
	EFUSE_BLK3                 = 3,
	EFUSE_BLK_USER_DATA        = 3,
	EFUSE_BLK4                 = 4,
	EFUSE_BLK_KEY0             = 4,
	EFUSE_BLK5                 = 5,
	EFUSE_BLK_KEY1             = 5,
	EFUSE_BLK6                 = 6,
	EFUSE_BLK_KEY2             = 6,
	EFUSE_BLK7                 = 7,
	EFUSE_BLK_KEY3             = 7,
	EFUSE_BLK8                 = 8,
	EFUSE_BLK_KEY4             = 8,
	EFUSE_BLK9                 = 9,
	EFUSE_BLK_KEY5             = 9,
	EFUSE_BLK_KEY_MAX          = 10,
	EFUSE_BLK10                = 10,
	EFUSE_BLK_SYS_DATA_PART2   = 10,
	EFUSE_BLK_MAX
} esp_efuse_block_t;

typedef enum {
	ESP_EFUSE_KEY_PURPOSE_USER = 0,
	ESP_EFUSE_KEY_PURPOSE_RESERVED = 1,
	ESP_EFUSE_KEY_PURPOSE_XTS_AES_128_KEY = 4,
	ESP_EFUSE_KEY_PURPOSE_HMAC_DOWN_ALL = 5,
	ESP_EFUSE_KEY_PURPOSE_HMAC_DOWN_JTAG = 6,
	ESP_EFUSE_KEY_PURPOSE_HMAC_DOWN_DIGITAL_SIGNATURE = 7,
	ESP_EFUSE_KEY_PURPOSE_HMAC_UP = 8,
	ESP_EFUSE_KEY_PURPOSE_SECURE_BOOT_DIGEST0 = 9,
	ESP_EFUSE_KEY_PURPOSE_SECURE_BOOT_DIGEST1 = 10,
	ESP_EFUSE_KEY_PURPOSE_SECURE_BOOT_DIGEST2 = 11,
	ESP_EFUSE_KEY_PURPOSE_MAX = 16,
} esp_efuse_purpose_t;

#ifdef __cplusplus
}
#endif
